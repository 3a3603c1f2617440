#include "daemon/nts_state_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "daemon/state_file.hpp"

namespace kairos {
namespace {

constexpr std::size_t kMaxNtsStateFileSize = 64 * 1024;
constexpr std::size_t kMaxServerNameSize = 255;
constexpr char kHexDigits[] = "0123456789abcdef";

std::string to_hex(ByteView bytes) {
  std::string out;
  out.reserve(2 * bytes.size());
  for (std::uint8_t b : bytes) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0xf]);
  }
  return out;
}

std::optional<std::uint8_t> hex_digit(char c) {
  if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
  return std::nullopt;
}

Result<std::vector<std::uint8_t>> from_hex(const nlohmann::json& value, const char* what, std::size_t max_bytes) {
  if (!value.is_string()) return fail(std::string(what) + " is not a string");
  const auto& text = value.get_ref<const std::string&>();
  if (text.size() % 2 != 0 || text.size() / 2 > max_bytes) return fail(std::string(what) + " has a bad length");
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const auto hi = hex_digit(text[i]);
    const auto lo = hex_digit(text[i + 1]);
    if (!hi || !lo) return fail(std::string(what) + " is not lower-case hex");
    out.push_back(static_cast<std::uint8_t>(*hi << 4 | *lo));
  }
  return out;
}

void wipe(std::vector<std::uint8_t>& bytes) {
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

void wipe(std::string& text) {
  if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
}

const nlohmann::json* member(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

}  // namespace

std::string nts_state_file_name(const std::string& source) {
  std::string out;
  for (std::size_t i = 0; i < source.size(); ++i) {
    const auto c = static_cast<unsigned char>(source[i]);
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       (c == '.' && i != 0);
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('_');
      out.push_back(kHexDigits[c >> 4]);
      out.push_back(kHexDigits[c & 0xf]);
    }
  }
  return out.empty() ? "_" : out;
}

std::string format_nts_state(const SavedNtsState& state) {
  nlohmann::json j;
  j["version"] = kNtsStateVersion;
  j["source"] = state.source;
  j["ntp_server"] = state.ke.ntp_server;
  j["ntp_port"] = state.ke.ntp_port;
  j["aead"] = state.ke.keys.aead_id();
  j["c2s"] = to_hex(state.ke.keys.c2s());
  j["s2c"] = to_hex(state.ke.keys.s2c());
  nlohmann::json cookies = nlohmann::json::array();
  for (const auto& cookie : state.ke.cookies) cookies.push_back(to_hex(cookie));
  j["cookies"] = std::move(cookies);
  if (!state.ke.certificate_sha256.empty()) j["certificate_sha256"] = state.ke.certificate_sha256;
  // A server name that is not UTF-8 (it came from the network) must not throw: replaced, it will
  // not resolve, and the restart falls back to NTS-KE.
  std::string text = j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  // The keys' hex copies inside the json object go with it; wipe what we can reach.
  for (const char* key : {"c2s", "s2c"}) wipe(j[key].get_ref<std::string&>());
  for (auto& cookie : j["cookies"]) wipe(cookie.get_ref<std::string&>());
  return text;
}

Result<SavedNtsState> parse_nts_state(ByteView bytes) {
  auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("not a JSON object");
  const auto* version = member(j, "version");
  if (!version || !version->is_number_integer()) return fail("no integer \"version\"");
  if (version->get<std::int64_t>() != kNtsStateVersion) {
    return fail("version " + version->dump() + ", expected " + std::to_string(kNtsStateVersion));
  }
  const auto* source = member(j, "source");
  if (!source || !source->is_string() || source->get_ref<const std::string&>().empty()) return fail("no \"source\"");
  const auto* server = member(j, "ntp_server");
  if (!server || !server->is_string()) return fail("no \"ntp_server\"");
  const auto& server_name = server->get_ref<const std::string&>();
  if (server_name.empty() || server_name.size() > kMaxServerNameSize) return fail("bad \"ntp_server\"");
  const auto* port = member(j, "ntp_port");
  if (!port || !port->is_number_unsigned() || port->get<std::uint64_t>() == 0 || port->get<std::uint64_t>() > 65535) {
    return fail("bad \"ntp_port\"");
  }
  const auto* aead = member(j, "aead");
  if (!aead || !aead->is_number_unsigned() || aead->get<std::uint64_t>() > 65535) return fail("bad \"aead\"");
  const auto* c2s_text = member(j, "c2s");
  const auto* s2c_text = member(j, "s2c");
  if (!c2s_text || !s2c_text) return fail("no keys");
  auto c2s = from_hex(*c2s_text, "\"c2s\"", kAeadMaxKeyLength);
  if (!c2s) return std::unexpected(c2s.error());
  auto s2c = from_hex(*s2c_text, "\"s2c\"", kAeadMaxKeyLength);
  if (!s2c) {
    wipe(*c2s);
    return std::unexpected(s2c.error());
  }
  auto keys = NtsKeys::create(static_cast<std::uint16_t>(aead->get<std::uint64_t>()), *c2s, *s2c);
  wipe(*c2s);
  wipe(*s2c);
  for (const char* key : {"c2s", "s2c"}) {
    if (j[key].is_string()) wipe(j[key].get_ref<std::string&>());
  }
  if (!keys) return std::unexpected(keys.error());
  const auto* cookies = member(j, "cookies");
  if (!cookies || !cookies->is_array()) return fail("no \"cookies\"");
  if (cookies->empty() || cookies->size() > kMaxSavedCookies) return fail("bad number of cookies");
  SavedNtsState state{.source = source->get<std::string>(),
                      .ke = KeClientResult{.keys = *keys,
                                           .cookies = {},
                                           .ntp_server = server_name,
                                           .ntp_port = static_cast<std::uint16_t>(port->get<std::uint64_t>()),
                                           .server_negotiated = false,
                                           .port_negotiated = false}};
  // Optional (older files have none): the NTS-KE server's certificate, for the evidence log.
  if (const auto* certificate = member(j, "certificate_sha256")) {
    const bool hex64 = certificate->is_string() && certificate->get_ref<const std::string&>().size() == 64 &&
                       certificate->get_ref<const std::string&>().find_first_not_of("0123456789abcdef") ==
                           std::string::npos;
    if (!hex64) return fail("bad \"certificate_sha256\"");
    state.ke.certificate_sha256 = certificate->get<std::string>();
  }
  for (const auto& text : *cookies) {
    auto cookie = from_hex(text, "a cookie", kMaxSavedCookieSize);
    if (!cookie) return std::unexpected(cookie.error());
    if (cookie->empty()) return fail("an empty cookie");
    state.ke.cookies.push_back(std::move(*cookie));
  }
  return state;
}

Result<void> save_nts_state(const std::string& state_dir, const SavedNtsState& state) {
  const std::string dir = state_dir + "/nts";
  const std::string path = dir + "/" + nts_state_file_name(state.source);
  if (state.ke.cookies.empty()) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail("cannot remove " + path + ": " + std::strerror(errno));
    return {};
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return fail("cannot create " + dir + ": " + std::strerror(errno));
  std::string text = format_nts_state(state);
  const auto* data = reinterpret_cast<const std::uint8_t*>(text.data());
  auto written = write_file_atomic(path, ByteView(data, text.size()), 0600);
  wipe(text);
  return written;
}

Result<std::optional<KeClientResult>> take_nts_state(const std::string& state_dir, const std::string& source) {
  const std::string path = state_dir + "/nts/" + nts_state_file_name(source);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) return std::optional<KeClientResult>();
  auto bytes = read_file_bounded(path, kMaxNtsStateFileSize);
  // Gone before anything is used: a crash from here on cannot hand the same cookies out again.
  // If it cannot be removed, it is not used either.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    if (bytes) wipe(*bytes);
    return fail("cannot remove " + path + " (its cookies are not used): " + std::strerror(errno));
  }
  if (!bytes) return std::unexpected(bytes.error());
  auto state = parse_nts_state(*bytes);
  wipe(*bytes);
  if (!state) return fail(path + ": " + state.error().message);
  if (state->source != source) return fail(path + " is for source \"" + state->source + "\", not \"" + source + "\"");
  return std::optional<KeClientResult>(std::move(state->ke));
}

}  // namespace kairos
