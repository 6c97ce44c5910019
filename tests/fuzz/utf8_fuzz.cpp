// Fuzzes the UTF-8 validator: the whole-buffer verdict and failure offset against a reference
// decoder, and incremental feeding in fuzzed pieces against feeding the whole buffer.
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "lib/utf8.h"
#include "tests/unit/utf8_reference.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The first byte seeds the split points; the rest is the text.
  if (size == 0) return 0;
  std::uint32_t seed = data[0];
  ++data;
  --size;

  const auto ref = wstool::utf8_reference::reference(data, size);
  wstool::Utf8Validator whole;
  std::size_t valid = 0;
  const bool ok = whole.feed(data, size, valid);
  check(ok == (ref.fail_at == size));
  check(valid == ref.fail_at);
  check((ok && whole.at_boundary()) == ref.complete);
  check(wstool::is_valid_utf8(data, size) == ref.complete);
  check(whole.failed() == !ok);

  wstool::Utf8Validator pieces;
  std::size_t pos = 0;
  bool pieces_ok = true;
  while (pos < size) {
    seed = seed * 1103515245u + 12345u;
    const std::size_t n = std::min<std::size_t>((seed >> 16) % 9, size - pos);
    std::size_t piece_valid = 0;
    if (!pieces.feed(data + pos, n, piece_valid)) {
      check(pos + piece_valid == ref.fail_at);
      pieces_ok = false;
      break;
    }
    check(piece_valid == n);
    pos += n;
  }
  check(pieces_ok == ok);
  if (pieces_ok) check(pieces.at_boundary() == whole.at_boundary());
  return 0;
}
