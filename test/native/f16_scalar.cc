// The scalar fp16 conversions of native/src/cpu/dtype.h (what every elementwise kernel uses;
// the addon's fp32 <-> fp16 casts go through F16C rows instead), for test/native/fp16.test.ts.
// Usage: f16_scalar IN.f32 OUT_BITS.u16 OUT_WIDENED.f32
#define TELECHAT_NO_F16C
#include <cstdio>
#include <vector>

#include "cpu/dtype.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: f16_scalar IN.f32 OUT_BITS.u16 OUT_WIDENED.f32\n");
    return 2;
  }
  std::FILE* in = std::fopen(argv[1], "rb");
  if (!in) return 1;
  std::vector<float> x;
  float v;
  while (std::fread(&v, 4, 1, in) == 1) x.push_back(v);
  std::fclose(in);
  std::vector<uint16_t> bits(x.size());
  for (size_t i = 0; i < x.size(); i++) bits[i] = telechat::f32_to_f16(x[i]);
  std::vector<float> widened(65536);
  for (uint32_t h = 0; h < 65536; h++) widened[h] = telechat::f16_to_f32(static_cast<uint16_t>(h));
  std::FILE* ob = std::fopen(argv[2], "wb");
  std::FILE* ow = std::fopen(argv[3], "wb");
  if (!ob || !ow) return 1;
  std::fwrite(bits.data(), 2, bits.size(), ob);
  std::fwrite(widened.data(), 4, widened.size(), ow);
  std::fclose(ob);
  std::fclose(ow);
  return 0;
}
