#include "hwts/link_monitor.hpp"

#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/object.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <deque>
#include <map>

namespace kairos {
namespace {

struct SockDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
using SockPtr = std::unique_ptr<nl_sock, SockDeleter>;

struct CacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};

struct LinkDeleter {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};

bool link_is_up(unsigned int flags) { return (flags & IFF_UP) != 0 && (flags & IFF_RUNNING) != 0; }

struct Link {
  std::string name;
  bool up = false;
};
using LinkTable = std::map<int, Link>;

Result<SockPtr> connect_route_socket() {
  SockPtr sock(nl_socket_alloc());
  if (!sock) return fail("nl_socket_alloc failed");
  if (int rc = nl_connect(sock.get(), NETLINK_ROUTE); rc < 0) return fail(std::string("rtnetlink: ") + nl_geterror(rc));
  return sock;
}

Result<LinkTable> snapshot(nl_sock* query) {
  nl_cache* raw = nullptr;
  if (int rc = rtnl_link_alloc_cache(query, AF_UNSPEC, &raw); rc < 0) {
    return fail(std::string("listing links: ") + nl_geterror(rc));
  }
  std::unique_ptr<nl_cache, CacheDeleter> cache(raw);
  LinkTable table;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    auto* link = reinterpret_cast<rtnl_link*>(o);
    const char* name = rtnl_link_get_name(link);
    table[rtnl_link_get_ifindex(link)] = Link{name != nullptr ? name : "", link_is_up(rtnl_link_get_flags(link))};
  }
  return table;
}

}  // namespace

const char* to_string(LinkEvent::Kind kind) {
  switch (kind) {
    case LinkEvent::Kind::kAdded: return "added";
    case LinkEvent::Kind::kRemoved: return "removed";
    case LinkEvent::Kind::kUp: return "up";
    case LinkEvent::Kind::kDown: return "down";
    case LinkEvent::Kind::kResync: return "resync";
  }
  return "unknown";
}

// Heap-held so the libnl callback's pointer survives moves of the LinkMonitor.
struct LinkMonitor::State {
  SockPtr events;  // subscribed to RTNLGRP_LINK, non-blocking
  SockPtr query;   // requests (snapshots, is_up), opened in the same namespace
  LinkTable links;
  std::deque<LinkEvent> pending;
  std::size_t max_events = 256;
  bool discarding = false;  // after an overflow: what is still queued is older than the snapshot

  void emit(LinkEvent::Kind kind, int ifindex, const std::string& name) { pending.push_back({name, ifindex, kind}); }

  // One link's new state against what we knew: the events that lead from one to the other.
  void update(int ifindex, const std::string& name, bool up) {
    auto known = links.find(ifindex);
    if (known != links.end() && known->second.name != name) {
      // A rename is the old name leaving and a new one arriving: the daemon matches by name.
      emit(LinkEvent::Kind::kRemoved, ifindex, known->second.name);
      links.erase(known);
      known = links.end();
    }
    if (known == links.end()) {
      links[ifindex] = Link{name, up};
      emit(LinkEvent::Kind::kAdded, ifindex, name);
      if (up) emit(LinkEvent::Kind::kUp, ifindex, name);
      return;
    }
    if (known->second.up != up) {
      known->second.up = up;
      emit(up ? LinkEvent::Kind::kUp : LinkEvent::Kind::kDown, ifindex, name);
    }
  }

  void remove(int ifindex) {
    auto known = links.find(ifindex);
    if (known == links.end()) return;
    emit(LinkEvent::Kind::kRemoved, ifindex, known->second.name);
    links.erase(known);
  }

  void on_link(rtnl_link* link, int msgtype) {
    // Bridge port notifications (AF_BRIDGE) share the group; their DELLINK means "left the
    // bridge", not "gone".
    if (rtnl_link_get_family(link) != AF_UNSPEC) return;
    const int ifindex = rtnl_link_get_ifindex(link);
    if (msgtype == RTM_DELLINK) {
      remove(ifindex);
      return;
    }
    const char* name = rtnl_link_get_name(link);
    if (name == nullptr) return;
    update(ifindex, name, link_is_up(rtnl_link_get_flags(link)));
  }

  // Lost notifications: forget the queue and rebuild from what the kernel says now.
  void resync() {
    emit(LinkEvent::Kind::kResync, 0, "");
    discarding = true;
    for (int i = 0; i < 1 << 16; ++i) {
      const int rc = nl_recvmsgs_default(events.get());
      if (rc == -NLE_AGAIN || (rc < 0 && rc != -NLE_NOMEM)) break;
    }
    discarding = false;
    auto now = snapshot(query.get());
    if (!now) return;  // next overflow or event tries again; the resync event already says so
    std::vector<int> gone;
    for (const auto& [ifindex, link] : links) {
      if (now->count(ifindex) == 0) gone.push_back(ifindex);
    }
    for (int ifindex : gone) remove(ifindex);
    for (const auto& [ifindex, link] : *now) update(ifindex, link.name, link.up);
  }
};

LinkMonitor::LinkMonitor(std::unique_ptr<State> state) : state_(std::move(state)) {}
LinkMonitor::~LinkMonitor() = default;
LinkMonitor::LinkMonitor(LinkMonitor&&) noexcept = default;
LinkMonitor& LinkMonitor::operator=(LinkMonitor&&) noexcept = default;

Result<LinkMonitor> LinkMonitor::open(Options options) {
  auto state = std::make_unique<State>();
  state->max_events = options.max_events == 0 ? 1 : options.max_events;
  auto events = connect_route_socket();
  if (!events) return std::unexpected(events.error());
  state->events = std::move(*events);
  nl_sock* sock = state->events.get();
  // Notifications carry sequence number 0; they are not answers to anything we sent.
  nl_socket_disable_seq_check(sock);
  auto on_message = [](nl_msg* msg, void* arg) -> int {
    auto* self = static_cast<State*>(arg);
    if (self->discarding) return NL_OK;
    const int type = nlmsg_hdr(msg)->nlmsg_type;
    if (type != RTM_NEWLINK && type != RTM_DELLINK) return NL_OK;
    auto on_object = [](nl_object* object, void* inner) {
      static_cast<State*>(inner)->on_link(reinterpret_cast<rtnl_link*>(object), nl_object_get_msgtype(object));
    };
    nl_msg_parse(msg, on_object, arg);
    return NL_OK;
  };
  nl_socket_modify_cb(sock, NL_CB_VALID, NL_CB_CUSTOM, on_message, state.get());
  if (int rc = nl_socket_add_membership(sock, RTNLGRP_LINK); rc < 0) {
    return fail(std::string("rtnetlink: joining the link group: ") + nl_geterror(rc));
  }
  if (int rc = nl_socket_set_nonblocking(sock); rc < 0) return fail(std::string("rtnetlink: ") + nl_geterror(rc));
  if (options.receive_buffer > 0) {
    if (int rc = nl_socket_set_buffer_size(sock, options.receive_buffer, 0); rc < 0) {
      return fail(std::string("rtnetlink: receive buffer: ") + nl_geterror(rc));
    }
  }
  auto query = connect_route_socket();
  if (!query) return std::unexpected(query.error());
  state->query = std::move(*query);
  // Subscribed first, snapshot second: a change in between shows up twice, and the second
  // sighting is no change at all.
  auto links = snapshot(state->query.get());
  if (!links) return std::unexpected(links.error());
  state->links = std::move(*links);
  return LinkMonitor(std::move(state));
}

int LinkMonitor::fd() const { return nl_socket_get_fd(state_->events.get()); }

std::vector<LinkEvent> LinkMonitor::read_events() {
  State& s = *state_;
  // Each receive is one notification; bound them too, so a flood of no-change notifications
  // (statistics, MTU, addresses) cannot hold the caller.
  const std::size_t max_reads = 4 * s.max_events + 16;
  for (std::size_t reads = 0; s.pending.size() < s.max_events && reads < max_reads; ++reads) {
    const int rc = nl_recvmsgs_default(s.events.get());
    if (rc == -NLE_AGAIN) break;
    if (rc == -NLE_NOMEM) {  // ENOBUFS: the kernel dropped notifications
      s.resync();
      continue;
    }
    if (rc < 0) break;
  }
  std::vector<LinkEvent> out;
  while (!s.pending.empty() && out.size() < s.max_events) {
    out.push_back(std::move(s.pending.front()));
    s.pending.pop_front();
  }
  return out;
}

Result<bool> LinkMonitor::is_up(const std::string& interface) const {
  if (interface.empty() || interface.size() >= IFNAMSIZ) return fail("'" + interface + "' is not a valid interface name");
  rtnl_link* raw = nullptr;
  if (int rc = rtnl_link_get_kernel(state_->query.get(), 0, interface.c_str(), &raw); rc < 0) {
    if (rc == -NLE_NODEV || rc == -NLE_OBJ_NOTFOUND) return fail(interface + ": no such interface");
    return fail(interface + ": " + nl_geterror(rc));
  }
  std::unique_ptr<rtnl_link, LinkDeleter> link(raw);
  return link_is_up(rtnl_link_get_flags(link.get()));
}

}  // namespace kairos
