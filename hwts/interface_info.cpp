#include "hwts/interface_info.hpp"

#include "hwts/ioctl_socket.hpp"

#include <linux/ethtool.h>
#include <linux/ethtool_netlink.h>
#include <linux/net_tstamp.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

namespace kairos {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t bit(int n) { return std::uint32_t{1} << n; }

// ---- Netlink attributes (pure, bounds-checked) ----

struct Attribute {
  std::uint16_t type = 0;
  std::span<const std::uint8_t> data;
};

// Netlink's NLA_HDRLEN and NLA_ALIGN, in unsigned arithmetic.
constexpr std::size_t kAttributeHeader = 4;
constexpr std::size_t align4(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

// Splits a run of netlink attributes. Each is a 4-byte header (length including the header,
// type) followed by its payload, padded to 4 bytes; the type's top two bits are flags.
Result<std::vector<Attribute>> split_attributes(std::span<const std::uint8_t> bytes) {
  std::vector<Attribute> out;
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    const std::size_t left = bytes.size() - offset;
    if (left < kAttributeHeader) return fail("netlink attribute header truncated (" + std::to_string(left) + " bytes left)");
    std::uint16_t length = 0;
    std::uint16_t type = 0;
    std::memcpy(&length, bytes.data() + offset, sizeof length);
    std::memcpy(&type, bytes.data() + offset + sizeof length, sizeof type);
    type = static_cast<std::uint16_t>(type & NLA_TYPE_MASK);
    if (length < kAttributeHeader || length > left) {
      return fail("netlink attribute " + std::to_string(type) + " truncated (length " + std::to_string(length) + ", " +
                  std::to_string(left) + " bytes left)");
    }
    out.push_back({type, bytes.subspan(offset + kAttributeHeader, length - kAttributeHeader)});
    // The last attribute may come without its padding.
    offset += std::min<std::size_t>(align4(length), left);
  }
  return out;
}

Result<std::uint32_t> attribute_u32(const Attribute& a, const char* what) {
  if (a.data.size() != sizeof(std::uint32_t)) {
    return fail(std::string(what) + ": expected 4 bytes, got " + std::to_string(a.data.size()));
  }
  std::uint32_t value = 0;
  std::memcpy(&value, a.data.data(), sizeof value);
  return value;
}

// A NUL-terminated string attribute; stops at the first NUL or the end of the payload.
std::string attribute_string(const Attribute& a) {
  const auto* begin = reinterpret_cast<const char*>(a.data.data());
  const auto* end = std::find(begin, begin + a.data.size(), '\0');
  return std::string(begin, end);
}

// An ethtool bitset (ethtool-netlink.rst, "Bit sets"), reduced to its first 32 bits, which is
// where every SOF_TIMESTAMPING_*, HWTSTAMP_TX_* and HWTSTAMP_FILTER_* value lives today.
// Compact form: VALUE (and MASK unless NOMASK) are arrays of 32-bit words. Verbose form: BITS
// holds one BIT nest per bit, each with an INDEX; in a list (NOMASK) every listed bit is set,
// otherwise the bit is set when its VALUE flag is present.
Result<std::uint32_t> parse_bitset(std::span<const std::uint8_t> bytes, const char* what) {
  auto attrs = split_attributes(bytes);
  if (!attrs) return fail(std::string(what) + ": " + attrs.error().message);
  bool nomask = false;
  std::optional<std::uint32_t> size;
  std::optional<std::span<const std::uint8_t>> value;
  std::optional<std::span<const std::uint8_t>> mask;
  std::optional<std::span<const std::uint8_t>> bits;
  for (const auto& a : *attrs) {
    switch (a.type) {
      case ETHTOOL_A_BITSET_NOMASK: nomask = true; break;
      case ETHTOOL_A_BITSET_SIZE: {
        auto s = attribute_u32(a, "bitset size");
        if (!s) return fail(std::string(what) + ": " + s.error().message);
        size = *s;
        break;
      }
      case ETHTOOL_A_BITSET_VALUE: value = a.data; break;
      case ETHTOOL_A_BITSET_MASK: mask = a.data; break;
      case ETHTOOL_A_BITSET_BITS: bits = a.data; break;
      default: break;  // newer kernels may add attributes
    }
  }
  std::uint32_t result = 0;
  if (value) {
    auto first_word = [&](std::span<const std::uint8_t> words, const char* name) -> Result<std::uint32_t> {
      if (words.size() % sizeof(std::uint32_t) != 0) {
        return fail(std::string(what) + ": " + name + " of " + std::to_string(words.size()) +
                    " bytes is not whole 32-bit words");
      }
      std::uint32_t word = 0;
      if (!words.empty()) std::memcpy(&word, words.data(), sizeof word);
      return word;
    };
    auto v = first_word(*value, "value");
    if (!v) return v;
    result = *v;
    if (!nomask && mask) {
      auto m = first_word(*mask, "mask");
      if (!m) return m;
      result &= *m;
    }
  } else if (bits) {
    auto list = split_attributes(*bits);
    if (!list) return fail(std::string(what) + ": " + list.error().message);
    for (const auto& entry : *list) {
      if (entry.type != ETHTOOL_A_BITSET_BITS_BIT) continue;
      auto fields = split_attributes(entry.data);
      if (!fields) return fail(std::string(what) + ": " + fields.error().message);
      std::optional<std::uint32_t> index;
      bool set = nomask;
      for (const auto& f : *fields) {
        if (f.type == ETHTOOL_A_BITSET_BIT_INDEX) {
          auto i = attribute_u32(f, "bit index");
          if (!i) return fail(std::string(what) + ": " + i.error().message);
          index = *i;
        } else if (f.type == ETHTOOL_A_BITSET_BIT_VALUE) {
          set = true;
        }
      }
      // Replies always carry the index; a bit known only by name cannot be placed.
      if (index && *index < 32 && set) result |= bit(static_cast<int>(*index));
    }
  }
  if (size && *size < 32) result &= bit(static_cast<int>(*size)) - 1;
  return result;
}

// ---- File descriptors and sysfs ----

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string errno_text(int error) { return std::strerror(error); }

std::optional<std::string> read_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

// "ptp12" → 12; anything else → nullopt.
std::optional<int> ptp_index(const std::string& name) {
  if (name.size() <= 3 || name.compare(0, 3, "ptp") != 0) return std::nullopt;
  int value = 0;
  const char* begin = name.data() + 3;
  const char* end = name.data() + name.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || value < 0) return std::nullopt;
  return value;
}

std::vector<int> ptp_children(const fs::path& dir) {
  std::vector<int> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (auto index = ptp_index(it->path().filename().string()); index && it->is_directory(ec)) out.push_back(*index);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool valid_interface_name(const std::string& name) {
  return !name.empty() && name.size() < IFNAMSIZ && name.find('/') == std::string::npos;
}

// ---- ioctl path ----

Result<TimestampingInfo> query_by_ioctl(const std::string& interface) {
  Fd sock(open_ioctl_socket());
  if (sock.get() < 0) return fail("socket: " + errno_text(errno));
  ethtool_ts_info info{};
  info.cmd = ETHTOOL_GET_TS_INFO;
  ifreq request{};
  std::memcpy(request.ifr_name, interface.data(), interface.size());
  request.ifr_data = reinterpret_cast<char*>(&info);
  if (::ioctl(sock.get(), SIOCETHTOOL, &request) != 0) {
    const int error = errno;
    if (error == ENODEV) return fail(interface + ": no such interface");
    return fail(interface + ": ETHTOOL_GET_TS_INFO: " + errno_text(error));
  }
  TimestampingInfo out;
  out.interface = interface;
  out.ifindex = interface_index(interface);
  if (info.phc_index >= 0) out.phc_index = info.phc_index;
  out.so_timestamping = info.so_timestamping;
  out.tx_types = info.tx_types;
  out.rx_filters = info.rx_filters;
  out.via = "ioctl";
  return out;
}

// ---- netlink path ----

struct SockDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct MsgDeleter {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
struct CbDeleter {
  void operator()(nl_cb* c) const { nl_cb_put(c); }
};

struct ReplyState {
  std::vector<std::uint8_t> attrs;
  bool have_reply = false;
  bool done = false;
  int error = 0;  // errno from the kernel's NLMSG_ERROR, positive
};

int on_valid(nl_msg* msg, void* arg) {
  auto* state = static_cast<ReplyState*>(arg);
  nlmsghdr* header = nlmsg_hdr(msg);
  if (!genlmsg_valid_hdr(header, 0)) return NL_SKIP;
  auto* genl = static_cast<genlmsghdr*>(nlmsg_data(header));
  if (genl->cmd != ETHTOOL_MSG_TSINFO_GET_REPLY) return NL_SKIP;
  const auto* data = reinterpret_cast<const std::uint8_t*>(genlmsg_attrdata(genl, 0));
  const int length = genlmsg_attrlen(genl, 0);
  if (length > 0) state->attrs.assign(data, data + length);
  state->have_reply = true;
  return NL_OK;
}

int on_ack(nl_msg*, void* arg) {
  static_cast<ReplyState*>(arg)->done = true;
  return NL_STOP;
}

int on_error(sockaddr_nl*, nlmsgerr* error, void* arg) {
  auto* state = static_cast<ReplyState*>(arg);
  state->error = -error->error;
  state->done = true;
  return NL_STOP;
}

// Why the netlink request gave no answer, and whether the ioctl is worth trying instead.
struct NetlinkFailure {
  std::string message;
  bool try_ioctl = false;
};

std::expected<TimestampingInfo, NetlinkFailure> query_by_netlink(const std::string& interface) {
  auto unavailable = [](std::string why) { return std::unexpected(NetlinkFailure{std::move(why), true}); };
  std::unique_ptr<nl_sock, SockDeleter> sock(nl_socket_alloc());
  if (!sock) return unavailable("nl_socket_alloc failed");
  if (int rc = genl_connect(sock.get()); rc < 0) return unavailable(std::string("genl_connect: ") + nl_geterror(rc));
  const int family = genl_ctrl_resolve(sock.get(), ETHTOOL_GENL_NAME);
  if (family < 0) return unavailable("no ethtool netlink family");

  std::unique_ptr<nl_msg, MsgDeleter> msg(nlmsg_alloc());
  if (!msg) return unavailable("nlmsg_alloc failed");
  if (!genlmsg_put(msg.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, ETHTOOL_MSG_TSINFO_GET, ETHTOOL_GENL_VERSION)) {
    return unavailable("genlmsg_put failed");
  }
  // The kernel validates strictly and wants NLA_F_NESTED on the nest.
  nlattr* header = nla_nest_start(msg.get(), ETHTOOL_A_TSINFO_HEADER | NLA_F_NESTED);
  if (header == nullptr || nla_put_string(msg.get(), ETHTOOL_A_HEADER_DEV_NAME, interface.c_str()) < 0 ||
      nla_put_u32(msg.get(), ETHTOOL_A_HEADER_FLAGS, ETHTOOL_FLAG_COMPACT_BITSETS) < 0) {
    return unavailable("building the TSINFO request failed");
  }
  nla_nest_end(msg.get(), header);

  ReplyState state;
  std::unique_ptr<nl_cb, CbDeleter> cb(nl_cb_alloc(NL_CB_DEFAULT));
  if (!cb) return unavailable("nl_cb_alloc failed");
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &state);
  nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, on_ack, &state);
  nl_cb_err(cb.get(), NL_CB_CUSTOM, on_error, &state);
  if (int rc = nl_send_auto(sock.get(), msg.get()); rc < 0) return unavailable(std::string("send: ") + nl_geterror(rc));
  // The reply comes first, then the ACK that nl_send_auto asked for; stop at either end.
  while (!state.done) {
    const int rc = nl_recvmsgs(sock.get(), cb.get());
    if (rc < 0 && !state.done) return unavailable(std::string("receive: ") + nl_geterror(rc));
  }
  if (state.error == ENODEV) return std::unexpected(NetlinkFailure{interface + ": no such interface", false});
  if (state.error != 0) {
    const bool unsupported = state.error == EOPNOTSUPP || state.error == ENOTSUP;
    return std::unexpected(NetlinkFailure{interface + ": ethtool TSINFO_GET: " + errno_text(state.error), unsupported});
  }
  if (!state.have_reply) return unavailable("no TSINFO reply");
  auto info = parse_tsinfo_reply(state.attrs);
  if (!info) return std::unexpected(NetlinkFailure{interface + ": " + info.error().message, false});
  if (info->interface.empty()) info->interface = interface;
  if (info->ifindex == 0) info->ifindex = interface_index(interface);
  return *info;
}

}  // namespace

bool TimestampingInfo::hardware_rx() const {
  return (so_timestamping & SOF_TIMESTAMPING_RX_HARDWARE) != 0 && (so_timestamping & SOF_TIMESTAMPING_RAW_HARDWARE) != 0;
}

bool TimestampingInfo::hardware_tx() const {
  return (so_timestamping & SOF_TIMESTAMPING_TX_HARDWARE) != 0 && (so_timestamping & SOF_TIMESTAMPING_RAW_HARDWARE) != 0 &&
         (tx_types & bit(HWTSTAMP_TX_ON)) != 0;
}

bool TimestampingInfo::software_rx() const { return (so_timestamping & SOF_TIMESTAMPING_RX_SOFTWARE) != 0; }

bool TimestampingInfo::software_tx() const { return (so_timestamping & SOF_TIMESTAMPING_TX_SOFTWARE) != 0; }

bool TimestampingInfo::can_filter_ntp() const {
  return (rx_filters & (bit(HWTSTAMP_FILTER_NTP_ALL) | bit(HWTSTAMP_FILTER_ALL))) != 0;
}

namespace {

template <std::size_t N>
std::string name_bits(std::uint32_t mask, const std::array<const char*, N>& names, const char* unknown_prefix) {
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if ((mask & bit(i)) == 0) continue;
    if (!out.empty()) out += ' ';
    const auto index = static_cast<std::size_t>(i);
    out += index < N ? std::string(names[index]) : unknown_prefix + std::to_string(i);
  }
  return out;
}

constexpr std::array<const char*, 19> kSofNames = {
    "hardware-transmit", "software-transmit", "hardware-receive", "software-receive", "software-system-clock",
    "hardware-legacy-clock", "hardware-raw-clock", "option-id", "sched-transmit", "ack-transmit", "option-cmsg",
    "option-tsonly", "option-stats", "option-pktinfo", "option-tx-swhw", "bind-phc", "option-id-tcp",
    "option-rx-filter", "tx-completion"};

constexpr std::array<const char*, 4> kTxNames = {"off", "on", "onestep-sync", "onestep-p2p"};

constexpr std::array<const char*, 16> kRxNames = {
    "none", "all", "some", "ptpv1-l4-event", "ptpv1-l4-sync", "ptpv1-l4-delay-req", "ptpv2-l4-event",
    "ptpv2-l4-sync", "ptpv2-l4-delay-req", "ptpv2-l2-event", "ptpv2-l2-sync", "ptpv2-l2-delay-req",
    "ptpv2-event", "ptpv2-sync", "ptpv2-delay-req", "ntp-all"};

template <std::size_t N>
std::string name_value(int value, const std::array<const char*, N>& names) {
  if (value >= 0 && static_cast<std::size_t>(value) < N) return names[static_cast<std::size_t>(value)];
  return "unknown-" + std::to_string(value);
}

}  // namespace

std::string so_timestamping_to_string(std::uint32_t bits) { return name_bits(bits, kSofNames, "bit-"); }
std::string tx_types_to_string(std::uint32_t mask) { return name_bits(mask, kTxNames, "unknown-"); }
std::string rx_filters_to_string(std::uint32_t mask) { return name_bits(mask, kRxNames, "unknown-"); }
std::string tx_type_name(int tx_type) { return name_value(tx_type, kTxNames); }
std::string rx_filter_name(int rx_filter) { return name_value(rx_filter, kRxNames); }

Result<TimestampingInfo> parse_tsinfo_reply(std::span<const std::uint8_t> attrs) {
  auto top = split_attributes(attrs);
  if (!top) return fail("TSINFO reply: " + top.error().message);
  TimestampingInfo out;
  out.via = "netlink";
  for (const auto& a : *top) {
    switch (a.type) {
      case ETHTOOL_A_TSINFO_HEADER: {
        auto fields = split_attributes(a.data);
        if (!fields) return fail("TSINFO header: " + fields.error().message);
        for (const auto& f : *fields) {
          if (f.type == ETHTOOL_A_HEADER_DEV_INDEX) {
            auto index = attribute_u32(f, "TSINFO header device index");
            if (!index) return fail(index.error().message);
            if (*index > static_cast<std::uint32_t>(INT32_MAX)) return fail("TSINFO header: device index out of range");
            out.ifindex = static_cast<int>(*index);
          } else if (f.type == ETHTOOL_A_HEADER_DEV_NAME) {
            out.interface = attribute_string(f);
          }
        }
        break;
      }
      case ETHTOOL_A_TSINFO_TIMESTAMPING: {
        auto bits = parse_bitset(a.data, "TSINFO timestamping");
        if (!bits) return fail(bits.error().message);
        out.so_timestamping = *bits;
        break;
      }
      case ETHTOOL_A_TSINFO_TX_TYPES: {
        auto bits = parse_bitset(a.data, "TSINFO tx types");
        if (!bits) return fail(bits.error().message);
        out.tx_types = *bits;
        break;
      }
      case ETHTOOL_A_TSINFO_RX_FILTERS: {
        auto bits = parse_bitset(a.data, "TSINFO rx filters");
        if (!bits) return fail(bits.error().message);
        out.rx_filters = *bits;
        break;
      }
      case ETHTOOL_A_TSINFO_PHC_INDEX: {
        auto index = attribute_u32(a, "TSINFO phc index");
        if (!index) return fail(index.error().message);
        // The kernel leaves the attribute out when there is no PHC; -1 sent anyway means none.
        if (*index <= static_cast<std::uint32_t>(INT32_MAX)) out.phc_index = static_cast<int>(*index);
        break;
      }
      default: break;  // stats, hwtstamp provider and whatever newer kernels add
    }
  }
  return out;
}

std::string driver_name(const std::string& interface) {
  if (!valid_interface_name(interface)) return {};
  Fd sock(open_ioctl_socket());
  if (sock.get() < 0) return {};
  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  ifreq request{};
  std::memcpy(request.ifr_name, interface.data(), interface.size());
  request.ifr_data = reinterpret_cast<char*>(&info);
  if (::ioctl(sock.get(), SIOCETHTOOL, &request) != 0) return {};
  return std::string(info.driver, strnlen(info.driver, sizeof info.driver));
}

Result<TimestampingInfo> query_timestamping(const std::string& interface, TsinfoPath path,
                                            const std::string& sysfs_root) {
  if (!valid_interface_name(interface)) return fail("'" + interface + "' is not a valid interface name");
  Result<TimestampingInfo> info = fail("unreachable");
  if (path == TsinfoPath::kIoctl) {
    info = query_by_ioctl(interface);
  } else {
    auto by_netlink = query_by_netlink(interface);
    if (by_netlink) {
      info = std::move(*by_netlink);
    } else if (path == TsinfoPath::kAuto && by_netlink.error().try_ioctl) {
      info = query_by_ioctl(interface);
    } else {
      return fail(by_netlink.error().message);
    }
  }
  if (!info) return info;
  info->driver = driver_name(interface);
  if (info->phc_index) info->vclocks = vclocks_of(*info->phc_index, sysfs_root);
  return info;
}

std::optional<int> phc_of_interface(const std::string& interface, const std::string& sysfs_root) {
  if (!valid_interface_name(interface)) return std::nullopt;
  auto clocks = ptp_children(fs::path(sysfs_root) / "class/net" / interface / "device/ptp");
  if (clocks.empty()) return std::nullopt;
  return clocks.front();
}

std::vector<int> vclocks_of(int index, const std::string& sysfs_root) {
  return ptp_children(fs::path(sysfs_root) / "class/ptp" / ("ptp" + std::to_string(index)));
}

Result<std::vector<PhcEntry>> list_phcs(const std::string& sysfs_root) {
  const fs::path root(sysfs_root);
  std::error_code ec;
  if (!fs::is_directory(root / "class", ec)) return fail(sysfs_root + ": no class directory (is sysfs mounted?)");
  std::vector<PhcEntry> out;
  for (fs::directory_iterator it(root / "class/ptp", ec), end; !ec && it != end; it.increment(ec)) {
    auto index = ptp_index(it->path().filename().string());
    if (!index) continue;
    PhcEntry entry;
    entry.index = *index;
    entry.path = "/dev/ptp" + std::to_string(*index);
    entry.clock_name = read_line(it->path() / "clock_name").value_or("");
    entry.vclocks = vclocks_of(*index, sysfs_root);
    out.push_back(std::move(entry));
  }
  std::sort(out.begin(), out.end(), [](const PhcEntry& a, const PhcEntry& b) { return a.index < b.index; });
  for (const auto& parent : out) {
    for (int child : parent.vclocks) {
      auto match = std::find_if(out.begin(), out.end(), [&](const PhcEntry& e) { return e.index == child; });
      if (match != out.end()) match->is_vclock = true;
    }
  }
  std::vector<std::string> interfaces;
  for (fs::directory_iterator it(root / "class/net", ec), end; !ec && it != end; it.increment(ec)) {
    interfaces.push_back(it->path().filename().string());
  }
  std::sort(interfaces.begin(), interfaces.end());
  for (const auto& name : interfaces) {
    // Several ports of one device share its clocks: every ptpN under the device belongs to each.
    for (int index : ptp_children(root / "class/net" / name / "device/ptp")) {
      auto match = std::find_if(out.begin(), out.end(), [&](const PhcEntry& e) { return e.index == index; });
      if (match != out.end()) match->interfaces.push_back(name);
    }
  }
  return out;
}

}  // namespace kairos
