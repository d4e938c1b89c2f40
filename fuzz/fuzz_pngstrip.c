/* libFuzzer target for the PNG chunk walker the opencv plugin runs on
 * guest bytes before cv::imdecode (plugins/opencv/pngstrip.c).  Checks,
 * beyond memory safety, that a copy is only made when it is smaller and
 * still starts with the PNG signature. */
#include <stdlib.h>
#include <string.h>

#include "pngstrip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *out;
    size_t out_len;
    int r = png_without_iccp(data, size, &out, &out_len);
    if (r == 1) {
        if (out_len >= size || memcmp(out, data, 8) != 0)
            abort();
        free(out);
    } else if (r == 0 && out != NULL) {
        abort();
    }
    return 0;
}
