#!/bin/bash
# Checks the bash completions of vmaccel and vmacceld
# (tools/vmaccel/vmaccel.bash-completion, agent/vmacceld.bash-completion) the
# way bash calls them: COMP_WORDS, COMP_CWORD, COMP_LINE and COMP_POINT set,
# the function called, COMPREPLY read.  Also that every command of
# commands[] in tools/vmaccel/main.c is offered.
#
# No arguments; run from anywhere (the repository is found from this file).
# Prints "ok   NAME" or "FAIL NAME" per case and "N passed, M failed"; exit
# status 0 only when none failed.  scripts/deps.sh installs bash-completion:
# without it this fails rather than skips.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || exit 1

bc=${BASH_COMPLETION:-}
for f in /usr/share/bash-completion/bash_completion /etc/bash_completion; do
    [[ -z $bc && -r $f ]] && bc=$f
done
if [[ -z $bc ]]; then
    echo "FAIL bash-completion is not installed (scripts/deps.sh; or set BASH_COMPLETION)"
    echo "0 passed, 1 failed"
    exit 1
fi

# shellcheck source=/dev/null
source "$bc"
# shellcheck source=tools/vmaccel/vmaccel.bash-completion
source "$root/tools/vmaccel/vmaccel.bash-completion" || exit 1
# shellcheck source=agent/vmacceld.bash-completion
source "$root/agent/vmacceld.bash-completion" || exit 1

# Files to complete, in a directory of their own.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
mkdir -p models/bundle outdir
touch models/a.onnx models/b.meta models/c.xml models/d.txt \
    in.npy input2.npy image.png libx.so notes.txt key.bin

passed=0 failed=0

# complete LINE: sets COMPREPLY to what the completion offers when the cursor
# is at the end of LINE.  The words are split as bash splits them: at blanks,
# and at the '=' and ':' of COMP_WORDBREAKS, which become words of their own.
complete_line() {
    local line=$1 split
    COMP_LINE=$line
    COMP_POINT=${#line}
    split=${line//=/ = }
    split=${split//:/ : }
    read -ra COMP_WORDS <<<"$split"
    [[ $line == *' ' || -z $line ]] && COMP_WORDS+=('')
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    "_${COMP_WORDS[0]}" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" \
        "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
}

report() { # NAME OK [DETAIL]
    if [[ $2 == 0 ]]; then
        echo "ok   $1"
        passed=$((passed + 1))
    else
        echo "FAIL $1${3:+: $3}"
        failed=$((failed + 1))
    fi
}

# expect NAME LINE WORD...: LINE offers exactly the WORDs, in any order.
expect() {
    local name=$1 line=$2 got want
    shift 2
    complete_line "$line"
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ')
    want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ')
    [[ $got == "$want" ]]
    report "$name" $? "'$line' offered [${got% }], expected [${want% }]"
}

expect 'command names' 'vmaccel cla' classify
expect 'global options' 'vmaccel --' --json --config --help --version
expect 'global --config FILE' 'vmaccel --config k' key.bin
expect 'command after globals' 'vmaccel --json --config key.bin s' sha256 sgemm stats
expect 'options of classify' 'vmaccel classify --' --model --top --batch --help
expect 'files after --model' 'vmaccel classify --model models/' \
    models/a.onnx models/b.meta models/c.xml models/bundle
expect 'help CMD' 'vmaccel help d' decrypt detect
expect 'run --input FILE.npy' 'vmaccel run --input ' in.npy input2.npy models outdir
expect 'run --input NAME=FILE' 'vmaccel run --input x=i' in.npy input2.npy
expect 'run --output DIR' 'vmaccel run --output ' models outdir
expect 'exec LIB' 'vmaccel exec ' libx.so models outdir
expect 'exec @FILE' 'vmaccel exec libx.so f @n' @notes.txt
expect 'encrypt --key KEYFILE' 'vmaccel encrypt --key ke' key.bin
expect 'stats --admin ADDR' 'vmaccel stats --admin ' ''
expect 'vmacceld options' 'vmacceld --' --config --listen --admin --workers --user \
    --vm-region --help --version
expect 'vmacceld --listen ADDR' 'vmacceld --listen ' unix:// tcp:// tls:// vsock://
expect 'vmacceld --listen=ADDR' 'vmacceld --listen=t' tcp:// tls://
me=$(id -un 2>/dev/null)
mapfile -t users < <(compgen -u -- "$me" | sort -u)
[[ $me ]] && expect 'vmacceld --user NAME' "vmacceld --user $me" "${users[@]}"

# Every command of commands[] in main.c, e.g. `    {"info", cmd_info, ...`.
mapfile -t commands < <(sed -n 's/^ *{"\([a-z0-9-]*\)", *cmd_[a-z0-9_]*,.*/\1/p' \
    "$root/tools/vmaccel/main.c")
((${#commands[@]} > 0))
report 'commands[] found in main.c' $? 'no line like {"info", cmd_info, ...'
complete_line 'vmaccel '
for c in "${commands[@]}"; do
    found=1
    for w in "${COMPREPLY[@]}"; do
        [[ $w == "$c" ]] && found=0 && break
    done
    report "vmaccel offers $c" $found "not in _vmaccel_commands"
done

[[ $_vmaccel_commands == "${commands[*]}" ]]
report '_vmaccel_commands in the order of commands[]' $? \
    "[$_vmaccel_commands], main.c has [${commands[*]}]"

echo "$passed passed, $failed failed"
((failed == 0))
