// GPT-2's byte-level alphabet (Radford et al. 2019, encoder.py's bytes_to_unicode; Hugging Face's
// ByteLevel pre-tokenizer and decoder): every byte is written as one printable Unicode character,
// so BPE works on text with no unknown symbols. Bytes 33-126, 161-172 and 174-255 stand for
// themselves; the other 68 (controls, space, 127-160, 173) map to U+0100.. in byte order
// (space -> U+0120 'Ġ', '\n' -> U+010A 'Ċ').
#pragma once
#include <string>
#include <string_view>

namespace lmforge::data {

// The UTF-8 of the byte-level character of every byte of `bytes`, concatenated.
std::string bytes_to_byte_level(std::string_view bytes);
// The inverse; false when `text` holds a character outside the 256 of the alphabet.
bool byte_level_to_bytes(std::string_view text, std::string& out);

}  // namespace lmforge::data
