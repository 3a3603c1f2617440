#include "daemon/control_server.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <list>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "daemon/daemon_status.hpp"
#include "test_util.hpp"

namespace kairos {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Runs the loop until `client` (on its own thread) returns; at most 10 s.
template <class F>
auto with_loop(EventLoop& loop, F client) {
  auto result = std::async(std::launch::async, client);
  std::function<void()> check = [&] {
    if (result.wait_for(0s) == std::future_status::ready) {
      loop.stop();
    } else {
      loop.add_timer(2ms, check);
    }
  };
  loop.add_timer(2ms, check);
  const auto safety = loop.add_timer(10s, [&] { loop.stop(); });
  EXPECT_TRUE(loop.run());
  loop.cancel_timer(safety);
  return result.get();
}

// A blocking client connection, or an invalid fd when connect fails.
UniqueFd connect_to(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.data(), path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return UniqueFd();
  return fd;
}

void send_text(int fd, std::string_view text) {
  ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

struct Read {
  std::string data;     // everything received
  bool closed = false;  // the server closed the connection
};

// Reads until a newline arrives, the server closes, or `wait` passes.
Read read_line(int fd, std::chrono::milliseconds wait = 2000ms) {
  Read r;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (r.data.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, poll_timeout_ms(deadline)) <= 0) break;
    char buf[8192];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      r.closed = true;
      break;
    }
    r.data.append(buf, static_cast<std::size_t>(n));
  }
  return r;
}

// Whether the server closes the connection within `wait` (what it sends first is dropped).
bool closed_within(int fd, std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, poll_timeout_ms(deadline)) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
  }
}

json parse_line(const std::string& line) { return json::parse(line.substr(0, line.find('\n')), nullptr, false); }

// A control server answering {"answer": COMMAND} in a temporary directory.
struct Fixture {
  explicit Fixture(ControlServerOptions options = {}) {
    if (options.path.empty()) options.path = dir.file("run/control.sock");
    path = options.path;
    server = ControlServer::start(loop, options, [](ControlCommand c) {
                                    return json{{"answer", to_string(c)}}.dump();
                                  }).value();
  }
  test::TempDir dir;
  EventLoop loop = EventLoop::create().value();
  std::string path;
  std::unique_ptr<ControlServer> server;
};

TEST(ControlServer, StatusRoundTripKeepsTheConnectionForMoreRequests) {
  Fixture f;
  auto [first, second] = with_loop(f.loop, [&] {
    UniqueFd fd = connect_to(f.path);
    send_text(fd.get(), "{\"command\":\"status\"}\n");
    Read a = read_line(fd.get());
    send_text(fd.get(), "{\"command\": \"sources\"}\r\n");
    Read b = read_line(fd.get());
    return std::pair{a, b};
  });
  EXPECT_EQ(first.data, "{\"answer\":\"status\"}\n");
  EXPECT_FALSE(first.closed);
  EXPECT_EQ(second.data, "{\"answer\":\"sources\"}\n");
}

TEST(ControlServer, PipelinedRequestsAreAnsweredInOrder) {
  Fixture f;
  std::string got = with_loop(f.loop, [&] {
    UniqueFd fd = connect_to(f.path);
    send_text(fd.get(), "{\"command\":\"clocks\"}\n{\"command\":\"server\"}\n");
    std::string all;
    while (std::count(all.begin(), all.end(), '\n') < 2) {
      Read r = read_line(fd.get());
      if (r.data.empty()) break;
      all += r.data;
    }
    return all;
  });
  EXPECT_EQ(got, "{\"answer\":\"clocks\"}\n{\"answer\":\"server\"}\n");
}

TEST(ControlServer, GarbageGetsAnErrorAndTheListenerStillAnswers) {
  Fixture f;
  auto [bad, good] = with_loop(f.loop, [&] {
    UniqueFd fd = connect_to(f.path);
    send_text(fd.get(), "hello there\n");
    Read bad_read = read_line(fd.get());
    const bool closed = closed_within(fd.get(), 1000ms);
    UniqueFd again = connect_to(f.path);
    send_text(again.get(), "{\"command\":\"status\"}\n");
    Read good_read = read_line(again.get());
    bad_read.closed = bad_read.closed || closed;
    return std::pair{bad_read, good_read};
  });
  const json error = parse_line(bad.data);
  ASSERT_TRUE(error.is_object()) << bad.data;
  EXPECT_TRUE(error.contains("error"));
  EXPECT_TRUE(bad.closed);
  EXPECT_EQ(good.data, "{\"answer\":\"status\"}\n");
}

TEST(ControlServer, UnknownCommandGetsAnErrorNamingIt) {
  Fixture f;
  Read r = with_loop(f.loop, [&] {
    UniqueFd fd = connect_to(f.path);
    send_text(fd.get(), "{\"command\":\"reboot\"}\n");
    return read_line(fd.get());
  });
  EXPECT_NE(parse_line(r.data).value("error", "").find("unknown command 'reboot'"), std::string::npos) << r.data;
}

TEST(ControlServer, OversizeRequestIsRefusedAndClosed) {
  Fixture f;
  auto [r, closed] = with_loop(f.loop, [&] {
    UniqueFd fd = connect_to(f.path);
    send_text(fd.get(), std::string(5000, ' '));
    Read line = read_line(fd.get());
    return std::pair{line, line.closed || closed_within(fd.get(), 1000ms)};
  });
  EXPECT_NE(parse_line(r.data).value("error", "").find("longer than 4096 bytes"), std::string::npos) << r.data;
  EXPECT_TRUE(closed);
}

TEST(ControlServer, RequestOfExactlyTheLimitIsAnswered) {
  Fixture f;
  Read r = with_loop(f.loop, [&] {
    UniqueFd fd = connect_to(f.path);
    std::string request = "{\"command\":\"status\"}";
    request.insert(1, std::string(4096 - request.size(), ' '));
    send_text(fd.get(), request + "\n");
    return read_line(fd.get());
  });
  EXPECT_EQ(r.data, "{\"answer\":\"status\"}\n");
}

TEST(ControlServer, HangingClientIsClosedAfterTheTimeout) {
  ControlServerOptions options;
  options.idle_timeout = 300ms;
  Fixture f(options);
  auto [early, r] = with_loop(f.loop, [&] {
    UniqueFd fd = connect_to(f.path);
    send_text(fd.get(), "{\"comm");
    const bool closed_early = closed_within(fd.get(), 100ms);
    return std::pair{closed_early, read_line(fd.get(), 2000ms)};
  });
  EXPECT_FALSE(early);
  EXPECT_NE(parse_line(r.data).value("error", "").find("no complete request"), std::string::npos) << r.data;
  EXPECT_EQ(f.server->connection_count(), 0u);
}

TEST(ControlServer, ConnectionsBeyondTheLimitAreClosedAtOnce) {
  Fixture f;  // the default limit: 16
  struct Outcome {
    int answered = 0;
    Read extra;
    bool after_one_closed = false;
  };
  Outcome o = with_loop(f.loop, [&] {
    Outcome out;
    std::vector<UniqueFd> held;
    for (int i = 0; i < 16; ++i) {
      held.push_back(connect_to(f.path));
      send_text(held.back().get(), "{\"command\":\"status\"}\n");
      if (read_line(held.back().get()).data == "{\"answer\":\"status\"}\n") ++out.answered;
    }
    UniqueFd extra = connect_to(f.path);
    out.extra = read_line(extra.get());
    out.extra.closed = out.extra.closed || closed_within(extra.get(), 1000ms);
    held.pop_back();  // one leaves: a newcomer gets its place (once the server saw it go)
    for (int attempt = 0; attempt < 50 && !out.after_one_closed; ++attempt) {
      std::this_thread::sleep_for(10ms);
      UniqueFd next = connect_to(f.path);
      send_text(next.get(), "{\"command\":\"status\"}\n");
      out.after_one_closed = read_line(next.get()).data == "{\"answer\":\"status\"}\n";
    }
    return out;
  });
  EXPECT_EQ(o.answered, 16);
  EXPECT_NE(parse_line(o.extra.data).value("error", "").find("too many"), std::string::npos) << o.extra.data;
  EXPECT_TRUE(o.extra.closed);
  EXPECT_TRUE(o.after_one_closed);
}

TEST(ControlServer, SocketHasTheConfiguredModeInANewDirectoryAndIsRemovedAtExit) {
  test::TempDir dir;
  EventLoop loop = EventLoop::create().value();
  ControlServerOptions options;
  options.path = dir.file("a/b/ctl.sock");
  options.mode = 0640;
  auto server = ControlServer::start(loop, options, [](ControlCommand) { return std::string("{}"); });
  ASSERT_TRUE(server) << server.error().message;
  struct stat st{};
  ASSERT_EQ(::stat(options.path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  ASSERT_EQ(::stat(dir.file("a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  server->reset();
  EXPECT_FALSE(std::filesystem::exists(options.path));
}

TEST(ControlServer, StaleSocketFileOfADeadDaemonIsReplaced) {
  test::TempDir dir;
  const std::string path = dir.file("ctl.sock");
  {
    // Bound and closed without unlinking: what a killed daemon leaves.
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  EventLoop loop = EventLoop::create().value();
  ControlServerOptions options;
  options.path = path;
  auto server = ControlServer::start(loop, options, [](ControlCommand) { return std::string("{}"); });
  EXPECT_TRUE(server) << server.error().message;
}

TEST(ControlServer, SecondDaemonOnAnAnsweringSocketIsRefused) {
  Fixture f;
  ControlServerOptions options;
  options.path = f.path;
  auto second = ControlServer::start(f.loop, options, [](ControlCommand) { return std::string("{}"); });
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("another daemon answers"), std::string::npos) << second.error().message;
  // The refused one must not have removed the first one's socket.
  EXPECT_TRUE(std::filesystem::exists(f.path));
}

TEST(ControlServer, FileThatIsNotASocketIsNotReplaced) {
  test::TempDir dir;
  const std::string path = dir.file("ctl.sock");
  std::ofstream(path) << "precious";
  EventLoop loop = EventLoop::create().value();
  ControlServerOptions options;
  options.path = path;
  auto server = ControlServer::start(loop, options, [](ControlCommand) { return std::string("{}"); });
  ASSERT_FALSE(server);
  EXPECT_NE(server.error().message.find("not a socket"), std::string::npos);
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST(ControlRequest, KnownCommandsParse) {
  EXPECT_EQ(parse_control_request(R"({"command":"status"})"), ControlCommand::kStatus);
  EXPECT_EQ(parse_control_request(R"( { "command" : "sources" } )"), ControlCommand::kSources);
  EXPECT_EQ(parse_control_request(R"({"command":"clocks"})"), ControlCommand::kClocks);
  EXPECT_EQ(parse_control_request(R"({"command":"server"})"), ControlCommand::kServer);
}

TEST(ControlRequest, MalformedRequestsAreErrors) {
  for (const char* bad : {"", "status", "[]", "\"status\"", "{}", R"({"command":1})", R"({"command":"STATUS"})",
                          R"({"command":"status","verbose":true})", R"({"command":"status"} x)",
                          "{\"command\":\"\xff\"}"}) {
    auto parsed = parse_control_request(bad);
    EXPECT_FALSE(parsed) << bad;
    if (!parsed) {
      EXPECT_FALSE(parsed.error().message.empty());
    }
  }
}

// --- daemon_status ---

SourceStatus model_source(const char* name, bool selected) {
  SourceStatus s;
  s.name = name;
  s.selected = selected;
  return s;
}

DaemonStatus example_status() {
  DaemonStatus s;
  s.system.name = "system";
  s.system.state = DisciplineState::kSynchronized;
  s.system.offset = 2.5e-6;
  s.system.error_bound = 5.4e-6;
  s.system.estimate_error = 0.9e-6;
  s.system.frequency = -12.5e-6;
  s.system.sources = {model_source("a.example", true), model_source("b.example", false)};
  s.clocks.push_back(s.system);
  SourceSnapshot a;
  a.name = "a.example";
  a.address = "192.0.2.1:123";
  a.nts = true;
  a.has_keys = true;
  a.cookies = 7;
  a.reach = 0377;
  a.poll = 6;
  a.selected = true;
  a.last = LastSample{.offset = 1e-3, .delay = 4e-3, .when = std::chrono::steady_clock::time_point()};
  a.last_age = 12.5;
  a.counters.samples = 40;
  s.sources.push_back(a);
  SourceSnapshot b;
  b.name = "b.example";
  s.sources.push_back(b);
  ServerSnapshot server;
  server.ntp = true;
  server.plain = 3;
  server.nts = 10;
  server.rate_limited = 2;
  server.rx_hardware = 11;
  server.rx_kernel = 4;
  server.tx_hardware = 6;
  server.nts_ke = true;
  server.ke_ok = 4;
  server.ke_failed = 1;
  s.server = server;
  return s;
}

TEST(DaemonStatusJson, StatusCarriesStateOffsetBoundAndSourceCounts) {
  const json j = answer_json(ControlCommand::kStatus, example_status());
  EXPECT_EQ(j["system"]["state"], "synchronized");
  EXPECT_DOUBLE_EQ(j["system"]["offset"].get<double>(), 2.5e-6);
  EXPECT_DOUBLE_EQ(j["system"]["error_bound"].get<double>(), 5.4e-6);  // the maximum error
  EXPECT_DOUBLE_EQ(j["system"]["estimate_error"].get<double>(), 0.9e-6);
  EXPECT_NEAR(j["system"]["frequency_ppm"].get<double>(), -12.5, 1e-9);
  EXPECT_EQ(j["system"]["sources"], 2);
  EXPECT_EQ(j["system"]["sources_selected"], 1);
  EXPECT_EQ(j["system"]["sources_reachable"], 1);
  EXPECT_EQ(j["serving"], true);
}

TEST(DaemonStatusJson, UnknownErrorBoundIsNull) {
  DaemonStatus s = example_status();
  s.system.error_bound = std::numeric_limits<double>::infinity();
  s.system.estimate_error = std::numeric_limits<double>::infinity();
  const json j = answer_json(ControlCommand::kStatus, s);
  EXPECT_TRUE(j["system"]["error_bound"].is_null());
  EXPECT_TRUE(j["system"]["estimate_error"].is_null());
  EXPECT_NE(j.dump().find("\"error_bound\":null"), std::string::npos);
}

TEST(DaemonStatusJson, SourcesCarryNtsStateLastSampleAndCounters) {
  const json j = answer_json(ControlCommand::kSources, example_status());
  ASSERT_EQ(j["sources"].size(), 2u);
  const json& a = j["sources"][0];
  EXPECT_EQ(a["name"], "a.example");
  EXPECT_EQ(a["address"], "192.0.2.1:123");
  EXPECT_EQ(a["mode"], "nts");
  EXPECT_EQ(a["has_keys"], true);
  EXPECT_EQ(a["cookies"], 7);
  EXPECT_EQ(a["reach"], 255);
  EXPECT_EQ(a["poll"], 6);
  EXPECT_EQ(a["selected"], true);
  EXPECT_DOUBLE_EQ(a["last_sample"]["offset"].get<double>(), 1e-3);
  EXPECT_DOUBLE_EQ(a["last_sample"]["delay"].get<double>(), 4e-3);
  EXPECT_DOUBLE_EQ(a["last_sample"]["error"].get<double>(), 2e-3);  // half the delay
  EXPECT_DOUBLE_EQ(a["last_sample"]["age"].get<double>(), 12.5);
  EXPECT_EQ(a["counters"]["samples"], 40);
  const json& b = j["sources"][1];
  EXPECT_EQ(b["mode"], "plain");
  EXPECT_TRUE(b["last_sample"].is_null());
  EXPECT_EQ(b["selected"], false);
}

TEST(DaemonStatusJson, ServerCountsServedAsPlainPlusNts) {
  const json j = answer_json(ControlCommand::kServer, example_status());
  EXPECT_EQ(j["server"]["ntp"]["served"], 13);
  EXPECT_EQ(j["server"]["ntp"]["rate_limited"], 2);
  EXPECT_EQ(j["server"]["ntp"]["late"], 0);
  EXPECT_TRUE(j["server"]["ntp"]["latency"].is_object());
  EXPECT_EQ(j["server"]["ntp"]["rx_stamps"]["hardware"], 11);
  EXPECT_EQ(j["server"]["ntp"]["rx_stamps"]["kernel"], 4);
  EXPECT_EQ(j["server"]["ntp"]["rx_stamps"]["daemon"], 0);
  EXPECT_EQ(j["server"]["ntp"]["tx_stamps"]["hardware"], 6);
  EXPECT_EQ(j["server"]["ntp"]["tx_stamps"]["kernel"], 0);
  EXPECT_EQ(j["server"]["nts_ke"]["ok"], 4);
  EXPECT_EQ(j["server"]["nts_ke"]["failed"], 1);
  DaemonStatus client_only = example_status();
  client_only.server.reset();
  EXPECT_TRUE(answer_json(ControlCommand::kServer, client_only)["server"].is_null());
}

TEST(DaemonStatusJson, ClocksListsEveryClockAndFullSnapshotHasAllParts) {
  const DaemonStatus s = example_status();
  const json clocks = answer_json(ControlCommand::kClocks, s);
  ASSERT_EQ(clocks["clocks"].size(), 1u);
  EXPECT_EQ(clocks["clocks"][0]["name"], "system");
  const json all = to_json(s);
  for (const char* key : {"system", "clocks", "sources", "server"}) EXPECT_TRUE(all.contains(key)) << key;
}

TEST(DaemonStatus, SourceIsSelectedByItsClockModelEntry) {
  EventLoop loop = EventLoop::create().value();
  auto resolver = Resolver::start(loop).value();
  std::list<Association> associations;
  for (const char* name : {"a.example", "b.example"}) {
    SourceConfig config;
    config.address = name;
    config.minpoll = 5;
    associations.emplace_back(loop, *resolver, config, [](const Association&, const NtpExchangeResult&) { return std::optional<PollFeedback>(); });
  }
  ClockStatus system;
  system.sources = {model_source("a.example", false), model_source("b.example", true)};
  system.sources[0].state = SourceState::kNoSelect;
  const DaemonStatus s = collect_status(system, associations, nullptr);
  ASSERT_EQ(s.sources.size(), 2u);
  EXPECT_FALSE(s.sources[0].selected);
  EXPECT_TRUE(s.sources[1].selected);
  // The model's state of each source reaches the snapshot and its JSON (kairosctl sources).
  EXPECT_EQ(s.sources[0].state, SourceState::kNoSelect);
  EXPECT_EQ(answer_json(ControlCommand::kSources, s)["sources"][0]["state"], "noselect");
  EXPECT_TRUE(s.sources[0].nts);  // the default
  EXPECT_FALSE(s.sources[0].has_keys);
  EXPECT_EQ(s.sources[0].poll, 5);
  EXPECT_FALSE(s.sources[0].last);
  EXPECT_FALSE(s.server);
  ASSERT_EQ(s.clocks.size(), 1u);
}

}  // namespace
}  // namespace kairos
