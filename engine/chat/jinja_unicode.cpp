#include "engine/chat/jinja_unicode.h"

#include "engine/common/utf8.h"

namespace strata::chat::unicode {
namespace {

constexpr char32_t kEscapedByteBase = 0xDC80;

bool in_range(char32_t c, char32_t first, char32_t last) { return c >= first && c <= last; }

// Upper/lower pairs whose upper-case letter sits at an even code point (Latin Extended-A).
bool is_even_upper_pair(char32_t c) {
  return in_range(c, 0x100, 0x12F) || in_range(c, 0x132, 0x137) || in_range(c, 0x14A, 0x177);
}
bool is_odd_upper_pair(char32_t c) {
  return in_range(c, 0x139, 0x148) || in_range(c, 0x179, 0x17E);
}

// One-to-one case mappings for Latin-1, Latin Extended-A, Greek, Cyrillic and full-width
// Latin; other scripts are returned unchanged (Python maps a few more, e.g. Armenian).
char32_t to_upper(char32_t c) {
  if (in_range(c, 'a', 'z')) return c - 0x20;
  if (c < 0x80) return c;
  if ((in_range(c, 0xE0, 0xFE) && c != 0xF7) || in_range(c, 0x3B1, 0x3CB) ||
      in_range(c, 0x430, 0x44F) || in_range(c, 0xFF41, 0xFF5A)) {
    return c == 0x3C2 ? 0x3A3 : c - 0x20;
  }
  if (in_range(c, 0x450, 0x45F)) return c - 0x50;
  if (is_even_upper_pair(c) && c % 2 == 1) return c - 1;
  if (is_odd_upper_pair(c) && c % 2 == 0) return c - 1;
  switch (c) {
    case 0xB5: return 0x39C;
    case 0xFF: return 0x178;
    case 0x131: return 'I';
    case 0x17F: return 'S';
    case 0x3AC: return 0x386;
    case 0x3AD: case 0x3AE: case 0x3AF: return c - 0x25;
    case 0x3CC: return 0x38C;
    case 0x3CD: case 0x3CE: return c - 0x3F;
    default: return c;
  }
}

char32_t to_lower(char32_t c) {
  if (in_range(c, 'A', 'Z')) return c + 0x20;
  if (c < 0x80) return c;
  if ((in_range(c, 0xC0, 0xDE) && c != 0xD7) || (in_range(c, 0x391, 0x3AB) && c != 0x3A2) ||
      in_range(c, 0x410, 0x42F) || in_range(c, 0xFF21, 0xFF3A)) {
    return c + 0x20;
  }
  if (in_range(c, 0x400, 0x40F)) return c + 0x50;
  if (is_even_upper_pair(c) && c % 2 == 0) return c + 1;
  if (is_odd_upper_pair(c) && c % 2 == 1) return c + 1;
  switch (c) {
    case 0x130: return 'i';  // Python appends U+0307; the dot is dropped here
    case 0x178: return 0xFF;
    case 0x386: return 0x3AC;
    case 0x388: case 0x389: case 0x38A: return c + 0x25;
    case 0x38C: return 0x3CC;
    case 0x38E: case 0x38F: return c + 0x3F;
    default: return c;
  }
}

constexpr char32_t kSharpS = 0xDF;

bool is_cased(char32_t c) { return c == kSharpS || to_upper(c) != c || to_lower(c) != c; }

bool is_line_break(char32_t c) {
  return in_range(c, 0x0A, 0x0D) || in_range(c, 0x1C, 0x1E) || c == 0x85 || c == 0x2028 ||
         c == 0x2029;
}

void append_upper(std::u32string& out, char32_t c) {
  if (c == kSharpS) {
    out += U"SS";
  } else {
    out += to_upper(c);
  }
}

}  // namespace

char32_t decode_at(std::string_view utf8, std::size_t pos, std::size_t& size) {
  const auto lead = static_cast<unsigned char>(utf8[pos]);
  size = 1;
  if (lead < 0x80) return lead;
  std::size_t extra = 0;
  char32_t c = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    extra = 1, c = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    extra = 2, c = lead & 0x0F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    extra = 3, c = lead & 0x07;
  } else {
    return kEscapedByteBase + lead;
  }
  if (pos + extra >= utf8.size()) return kEscapedByteBase + lead;
  for (std::size_t k = 1; k <= extra; ++k) {
    const auto cont = static_cast<unsigned char>(utf8[pos + k]);
    if ((cont & 0xC0) != 0x80) return kEscapedByteBase + lead;
    c = (c << 6) | (cont & 0x3F);
  }
  const char32_t min_for_length[] = {0, 0x80, 0x800, 0x10000};
  if (c < min_for_length[extra] || c > 0x10FFFF || in_range(c, 0xD800, 0xDFFF)) return kEscapedByteBase + lead;
  size = extra + 1;
  return c;
}

std::u32string decode(std::string_view utf8) {
  std::u32string out;
  out.reserve(utf8.size());
  std::size_t size = 0;
  for (std::size_t i = 0; i < utf8.size(); i += size) out += decode_at(utf8, i, size);
  return out;
}

void append(std::string& out, char32_t c) {
  if (in_range(c, kEscapedByteBase + 0x80, kEscapedByteBase + 0xFF)) {
    out += static_cast<char>(c - kEscapedByteBase);
  } else {
    append_utf8(out, c);
  }
}

std::string encode(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t c : code_points) append(out, c);
  return out;
}

std::size_t length(std::string_view utf8) { return decode(utf8).size(); }

bool is_space(char32_t c) {
  return in_range(c, 0x09, 0x0D) || in_range(c, 0x1C, 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || in_range(c, 0x2000, 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

std::size_t skip_spaces(std::string_view utf8, std::size_t pos) {
  std::size_t size = 0;
  while (pos < utf8.size() && is_space(decode_at(utf8, pos, size))) pos += size;
  return pos;
}

// Python treats categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs (but the ASCII space) as not
// printable. Without the Unicode database this covers the control, format, separator,
// surrogate, private-use and noncharacter code points; unassigned ones count as printable.
bool is_printable(char32_t c) {
  if (c == ' ') return true;
  if (is_space(c) || c < 0x20 || in_range(c, 0x7F, 0xA0)) return false;
  const bool format = c == 0xAD || in_range(c, 0x600, 0x605) || c == 0x61C || c == 0x6DD ||
                      c == 0x70F || c == 0x180E || in_range(c, 0x200B, 0x200F) ||
                      in_range(c, 0x202A, 0x202E) || in_range(c, 0x2060, 0x2064) ||
                      in_range(c, 0x2066, 0x206F) || c == 0xFEFF || in_range(c, 0xFFF9, 0xFFFB) ||
                      c == 0xE0001 || in_range(c, 0xE0020, 0xE007F);
  const bool private_or_surrogate = in_range(c, 0xD800, 0xF8FF) || c >= 0xF0000;
  const bool noncharacter = in_range(c, 0xFDD0, 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
  return !format && !private_or_surrogate && !noncharacter;
}



std::string upper(std::string_view s) {
  std::u32string out;
  for (char32_t c : decode(s)) append_upper(out, c);
  return encode(out);
}

std::string lower(std::string_view s) {
  const std::u32string text = decode(s);
  std::u32string out;
  out.reserve(text.size());
  constexpr char32_t kCapitalSigma = 0x3A3;
  constexpr char32_t kFinalSigma = 0x3C2;
  for (std::size_t i = 0; i < text.size(); ++i) {
    // Python's Final_Sigma rule, without skipping case-ignorable characters: a capital sigma
    // that ends a word becomes the final form.
    const bool ends_word = i > 0 && is_cased(text[i - 1]) && (i + 1 == text.size() || !is_cased(text[i + 1]));
    out += text[i] == kCapitalSigma && ends_word ? kFinalSigma : to_lower(text[i]);
  }
  return encode(out);
}

std::string capitalize(std::string_view s) {
  std::u32string out;
  bool first = true;
  for (char32_t c : decode(s)) {
    if (first) {
      append_upper(out, c);
    } else {
      out += to_lower(c);
    }
    first = false;
  }
  return encode(out);
}

std::string title(std::string_view s) {
  std::u32string out;
  bool previous_cased = false;
  for (char32_t c : decode(s)) {
    if (previous_cased) {
      out += to_lower(c);
    } else {
      append_upper(out, c);
    }
    previous_cased = is_cased(c);
  }
  return encode(out);
}

std::vector<std::string> split_lines(std::string_view s, bool keep_ends) {
  const std::u32string text = decode(s);
  std::vector<std::string> lines;
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_line_break(text[i])) {
      ++i;
      continue;
    }
    const std::size_t break_length = (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ? 2 : 1;
    const std::size_t end = keep_ends ? i + break_length : i;
    lines.push_back(encode(std::u32string_view(text).substr(start, end - start)));
    i += break_length;
    start = i;
  }
  if (start < text.size()) lines.push_back(encode(std::u32string_view(text).substr(start)));
  return lines;
}

std::string strip(std::string_view s, const std::string* chars, bool left, bool right) {
  const std::u32string text = decode(s);
  const std::u32string strip_set = chars != nullptr ? decode(*chars) : std::u32string();
  auto strippable = [&](char32_t c) {
    return chars != nullptr ? strip_set.find(c) != std::u32string::npos : is_space(c);
  };
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (left && begin < end && strippable(text[begin])) ++begin;
  while (right && end > begin && strippable(text[end - 1])) --end;
  return encode(std::u32string_view(text).substr(begin, end - begin));
}

}  // namespace strata::chat::unicode
