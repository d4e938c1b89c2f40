// bench-layers MODEL.onnx W H: for each layer of the network, its name and
// the bytes of its output activations (float32) for one W×H RGB image.
// What an API-remoting system would move across the wire per layer; used
// by bench-tenants to emulate fine-grained remoting honestly.
#include <cstdio>
#include <cstdlib>
#include <opencv2/dnn.hpp>

int main(int argc, char **argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: bench-layers MODEL.onnx WIDTH HEIGHT\n");
        return 2;
    }
    try {
        cv::dnn::Net net = cv::dnn::readNet(argv[1]);
        cv::dnn::MatShape in = {1, 3, std::atoi(argv[3]), std::atoi(argv[2])};
        std::vector<cv::String> names = net.getLayerNames();
        for (const cv::String &name : names) {
            int id = net.getLayerId(name);
            std::vector<cv::dnn::MatShape> ins, outs;
            net.getLayerShapes(in, id, ins, outs);
            size_t bytes = 0;
            for (const cv::dnn::MatShape &s : outs) {
                size_t n = 1;
                for (int d : s)
                    n *= static_cast<size_t>(d);
                bytes += sizeof(float) * n;
            }
            std::printf("%s %zu\n", name.c_str(), bytes);
        }
    } catch (const cv::Exception &e) {
        std::fprintf(stderr, "bench-layers: %s\n", e.what());
        return 1;
    }
    return 0;
}
