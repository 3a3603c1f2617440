#include <fcntl.h>
#include <linux/sockios.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "clock/sim_clock.hpp"
#include "hwts/sim_phc.hpp"
#include "report.hpp"

namespace kairos::phcstat {
namespace {

namespace fs = std::filesystem;

// A fake sysfs with ptp0 owned by eth0's device, a simulated PHC behind /dev/ptp0, a fake NIC
// and a fake kernel clock: the whole report runs without hardware and reads only.
struct PhcstatTest : ::testing::Test {
  double t = 100;
  SimClock system{"system", [this] { return t; }, 1'700'000'000, 0.0, 0.0, 0.1};
  SimClock phc{"phc", [this] { return t; }, 1'700'000'000, 37.0 + 20e-9, 0.0, 500e-6};
  std::unique_ptr<SimPhc> sim;
  fs::path root;
  int nic_sets = 0;
  int adjtime_writes = 0;
  timex kernel{};

  void SetUp() override {
    root = fs::temp_directory_path() / fs::path("phcstat-test-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "class/ptp/ptp0");
    std::ofstream(root / "class/ptp/ptp0/clock_name") << "sim_ptp\n";
    fs::create_directories(root / "class/net/eth0/device/ptp/ptp0");
    fs::create_directories(root / "proc");
    sim = std::make_unique<SimPhc>(system, phc, [this] { return t; });
    kernel.status = 0;  // synchronized
    kernel.maxerror = 1500;
    kernel.esterror = 20;
    kernel.tai = 37;
  }
  void TearDown() override { fs::remove_all(root); }

  Environment env() {
    Environment e;
    e.sysfs = root.string();
    e.proc = (root / "proc").string();
    e.phc = sim->syscalls();
    e.nic.call = [this](const std::string&, unsigned long request, hwtstamp_config* config) {
      if (request == SIOCSHWTSTAMP) ++nic_sets;
      *config = hwtstamp_config{};
      config->tx_type = HWTSTAMP_TX_ON;
      config->rx_filter = HWTSTAMP_FILTER_ALL;
      return 0;
    };
    e.adjtime = [this](clockid_t id, timex* tx) {
      if (id != CLOCK_REALTIME || tx->modes != 0) {
        ++adjtime_writes;
        errno = EPERM;
        return -1;
      }
      *tx = kernel;
      return TIME_OK;
    };
    return e;
  }

  const Check* find(const Report& r, const std::string& name) {
    for (const Check& c : r.checks) {
      if (c.name == name) return &c;
    }
    return nullptr;
  }
};

TEST_F(PhcstatTest, ReportsASimulatedPhcInTaiWithItsInterfaceAndReadsOnly) {
  const Report r = build_report(env(), Thresholds{});
  ASSERT_EQ(r.phcs.size(), 1u);
  const PhcReport& p = r.phcs[0];
  EXPECT_EQ(p.entry.path, "/dev/ptp0");
  EXPECT_EQ(p.entry.clock_name, "sim_ptp");
  EXPECT_EQ(p.entry.interfaces, std::vector<std::string>{"eth0"});
  ASSERT_TRUE(p.caps);
  EXPECT_EQ(p.caps->max_adj, 500'000);
  ASSERT_TRUE(p.realtime) << p.realtime_error;
  EXPECT_NEAR(p.realtime->offset, 37.0 + 20e-9, 1e-6);
  ASSERT_TRUE(p.frequency_ppb);
  // The PHC keeps TAI: 20 ns from UTC once TAI - UTC is taken out, so OK.
  const Check* offset = find(r, "/dev/ptp0 offset");
  ASSERT_NE(offset, nullptr);
  EXPECT_EQ(offset->verdict, Verdict::kOk) << offset->detail;
  EXPECT_NE(offset->detail.find("keeps TAI"), std::string::npos) << offset->detail;
  EXPECT_EQ(r.failures(), 0) << to_text(r);
  // Read-only all the way: the device opened O_RDONLY, no NIC write, no clock write.
  EXPECT_EQ(sim->last_open_flags() & O_ACCMODE, O_RDONLY);
  EXPECT_EQ(nic_sets, 0);
  EXPECT_EQ(adjtime_writes, 0);
  EXPECT_EQ(*phc.frequency(), 0.0);
  EXPECT_EQ(sim->open_descriptors(), 0);  // closed again
}

TEST_F(PhcstatTest, APhcResetTo1970Fails) {
  sim->reset_at(t);
  const Report r = build_report(env(), Thresholds{});
  const Check* time = find(r, "/dev/ptp0 time");
  ASSERT_NE(time, nullptr) << to_text(r);
  EXPECT_EQ(time->verdict, Verdict::kFail);
  EXPECT_NE(time->detail.find("1970"), std::string::npos) << time->detail;
  EXPECT_EQ(r.failures(), 1);
}

TEST_F(PhcstatTest, AVanishedDeviceFailsAndTheReportGoesOn) {
  sim->remove();
  const Report r = build_report(env(), Thresholds{});
  const Check* readable = find(r, "/dev/ptp0 readable");
  ASSERT_NE(readable, nullptr) << to_text(r);
  EXPECT_EQ(readable->verdict, Verdict::kFail);
  EXPECT_TRUE(r.system.read);
  EXPECT_NE(to_text(r).find("1 failed"), std::string::npos);
}

TEST_F(PhcstatTest, AnOffsetBeyondTheThresholdsWarnsThenFails) {
  Environment e = env();
  ASSERT_TRUE(phc.step(0.004));  // 4 ms off UTC (and TAI)
  Report r = build_report(e, Thresholds{});
  EXPECT_EQ(find(r, "/dev/ptp0 offset")->verdict, Verdict::kWarn);
  Thresholds strict;
  strict.fail_offset = 2e-3;
  r = build_report(e, strict);
  EXPECT_EQ(find(r, "/dev/ptp0 offset")->verdict, Verdict::kFail);
  EXPECT_EQ(r.failures(), 1);
}

TEST_F(PhcstatTest, UnsynchronizedSystemClockWarns) {
  kernel.status = STA_UNSYNC;
  kernel.maxerror = 16'000'000;
  const Report r = build_report(env(), Thresholds{});
  EXPECT_EQ(find(r, "system clock synchronized")->verdict, Verdict::kWarn);
  EXPECT_EQ(r.failures(), 0);
}

TEST_F(PhcstatTest, JsonCarriesTheSameFacts) {
  const Report r = build_report(env(), Thresholds{});
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["phcs"][0]["path"], "/dev/ptp0");
  EXPECT_EQ(j["phcs"][0]["caps"]["max_adj_ppb"], 500000);
  EXPECT_NEAR(j["phcs"][0]["realtime"]["offset"].get<double>(), 37.0, 1e-6);
  EXPECT_EQ(j["system"]["tai_offset"], 37);
  EXPECT_EQ(j["failures"], 0);
}

// What kairosd answers to {"command":"clocks"} when its system clock follows eth0's PHC.
constexpr const char* kKairosdClocks = R"j({"clocks":[
 {"name":"system","state":"synchronized","steered":true,"offset":-2e-8,"error_bound":1.5e-7,
  "follows":"eth0 PHC (/dev/ptp0)","last_update_age":0.4},
 {"name":"eth0 PHC (/dev/ptp0)","state":"unsynchronized","steered":true,"offset":0,"error_bound":null,
  "follows":null,"last_update_age":null}]})j";

TEST_F(PhcstatTest, ShowsKairosdsViewOfEachClockAndWarnsOnAnUnsynchronizedOne) {
  Environment e = env();
  e.ask_kairosd = [] { return std::expected<std::string, std::string>(kKairosdClocks); };
  const Report r = build_report(e, Thresholds{});
  ASSERT_TRUE(r.kairosd.reached) << r.kairosd.error;
  ASSERT_EQ(r.kairosd.clocks.size(), 2u);
  const KairosdClock* phc_view = r.kairosd.clock_for("/dev/ptp0");
  ASSERT_NE(phc_view, nullptr);
  EXPECT_EQ(phc_view->state, "unsynchronized");
  EXPECT_EQ(r.kairosd.clock_for("/dev/ptp1"), nullptr);
  const Check* sys = find(r, "kairosd system");
  ASSERT_NE(sys, nullptr);
  EXPECT_EQ(sys->verdict, Verdict::kOk);
  const Check* phc_check = find(r, "kairosd eth0 PHC (/dev/ptp0)");
  ASSERT_NE(phc_check, nullptr);
  EXPECT_EQ(phc_check->verdict, Verdict::kWarn);
  EXPECT_EQ(r.failures(), 0);
  const std::string text = to_text(r);
  // Under the device itself, and in kairosd's own list.
  EXPECT_NE(text.find("/dev/ptp0 (sim_ptp), interfaces eth0\n  kairosd       unsynchronized, steered, no update yet"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("system        synchronized, steered, offset -0.000000020 s ± "), std::string::npos) << text;
  EXPECT_NE(text.find("follows eth0 PHC (/dev/ptp0), updated "), std::string::npos) << text;
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["kairosd"]["clocks"][0]["follows"], "eth0 PHC (/dev/ptp0)");
  EXPECT_TRUE(j["kairosd"]["clocks"][1]["error_bound"].is_null());
}

TEST_F(PhcstatTest, KairosdOutOfReachIsSaidAndFailsNothing) {
  Environment e = env();
  e.ask_kairosd = [] {
    return std::expected<std::string, std::string>(std::unexpect, "kairosd not running? no control socket at /x");
  };
  const Report r = build_report(e, Thresholds{});
  EXPECT_FALSE(r.kairosd.reached);
  EXPECT_EQ(r.failures(), 0);
  EXPECT_NE(to_text(r).find("kairosd        not reached: kairosd not running? no control socket at /x"),
            std::string::npos);
  EXPECT_EQ(to_json(r)["kairosd"]["error"], "kairosd not running? no control socket at /x");
}

TEST(PhcstatKairosd, ErrorAndMalformedAnswersAreRejected) {
  EXPECT_EQ(parse_kairosd_clocks(R"({"error":"unknown command"})").error(), "kairosd: unknown command");
  EXPECT_FALSE(parse_kairosd_clocks("not json"));
  EXPECT_FALSE(parse_kairosd_clocks("[1,2]"));
  EXPECT_FALSE(parse_kairosd_clocks(R"({"clocks":{}})"));
  EXPECT_FALSE(parse_kairosd_clocks(R"({"clocks":[1]})"));
  EXPECT_FALSE(parse_kairosd_clocks(R"({"clocks":[{"state":"synchronized"}]})"));
  // Fields of the wrong type are read as absent rather than trusted.
  auto odd = parse_kairosd_clocks(R"({"clocks":[{"name":"system","steered":"yes","error_bound":"1"}]})");
  ASSERT_TRUE(odd) << odd.error();
  EXPECT_FALSE((*odd)[0].steered);
  EXPECT_FALSE((*odd)[0].error_bound);
}

TEST(PhcstatChecks, NtpIncapableNicWarns) {
  Report r;
  r.system.read = true;
  r.system.unsynchronized = false;
  PhcReport p;
  p.entry.path = "/dev/ptp1";
  InterfaceReport i;
  i.name = "eth1";
  TimestampingInfo info;
  info.so_timestamping = SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_TX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE;
  info.tx_types = 1u << HWTSTAMP_TX_ON;
  info.rx_filters = 1u << HWTSTAMP_FILTER_PTP_V2_EVENT;  // PTP only: NTP packets go unstamped
  i.info = info;
  p.interfaces.push_back(i);
  p.realtime_error = "x";
  r.phcs.push_back(p);
  const auto checks = evaluate(r, Thresholds{});
  bool found = false;
  for (const Check& c : checks) {
    if (c.name == "eth1 hardware timestamps for NTP") {
      found = true;
      EXPECT_EQ(c.verdict, Verdict::kWarn);
    }
  }
  EXPECT_TRUE(found);
}

// A process of the fake /proc holding `target` open as descriptor 3 with these open flags (octal).
void hold_open(const fs::path& proc, int pid, const std::string& comm, const std::string& target, const char* flags) {
  const fs::path dir = proc / std::to_string(pid);
  fs::create_directories(dir / "fd");
  fs::create_directories(dir / "fdinfo");
  std::ofstream(dir / "comm") << comm << "\n";
  fs::create_symlink(target, dir / "fd" / "3");
  std::ofstream(dir / "fdinfo" / "3") << "pos:\t0\nflags:\t" << flags << "\nmnt_id:\t25\n";
}

const Check* find_check(const Report& r, const std::string& name) {
  for (const Check& c : r.checks) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

TEST_F(PhcstatTest, ShowsWhichDaemonHoldsThePhcAndWarnsWhenTwoMaySteerIt) {
  const fs::path proc = root / "proc";
  hold_open(proc, 812, "ptp4l", "/dev/ptp0", "0100002");    // O_RDWR | O_LARGEFILE
  hold_open(proc, 900, "kairosd", "/dev/ptp0", "0100000");  // read-only: a refclock
  hold_open(proc, 950, "sshd", "/dev/null", "02");
  Report r = build_report(env(), Thresholds{});
  ASSERT_EQ(r.phcs.size(), 1u);
  ASSERT_EQ(r.phcs[0].holders.size(), 2u);
  EXPECT_EQ(r.phcs[0].holders[0].comm, "ptp4l");
  EXPECT_TRUE(r.phcs[0].holders[0].write);
  EXPECT_EQ(r.phcs[0].holders[1].comm, "kairosd");
  EXPECT_FALSE(r.phcs[0].holders[1].write);
  const Check* once = find_check(r, "/dev/ptp0 steered once");
  ASSERT_TRUE(once);
  EXPECT_EQ(once->verdict, Verdict::kOk) << once->detail;
  EXPECT_NE(to_text(r).find("held open by  ptp4l (pid 812, read-write), kairosd (pid 900, read-only)"),
            std::string::npos)
      << to_text(r);
  EXPECT_EQ(to_json(r)["phcs"][0]["holders"][0]["comm"], "ptp4l");

  // chronyd steering the same PHC as ptp4l: two servos.
  hold_open(proc, 700, "chronyd", "/dev/ptp0", "02");
  r = build_report(env(), Thresholds{});
  once = find_check(r, "/dev/ptp0 steered once");
  ASSERT_TRUE(once);
  EXPECT_EQ(once->verdict, Verdict::kWarn);
  EXPECT_NE(once->detail.find("chronyd (pid 700), ptp4l (pid 812)"), std::string::npos) << once->detail;
  EXPECT_EQ(r.warnings() >= 1, true);
}

TEST_F(PhcstatTest, NobodyHoldingThePhcIsNoCheck) {
  const Report r = build_report(env(), Thresholds{});
  EXPECT_TRUE(r.phcs.at(0).holders.empty());
  EXPECT_FALSE(find_check(r, "/dev/ptp0 steered once"));
}

}  // namespace
}  // namespace kairos::phcstat

namespace kairos::phcstat {
namespace {

TEST(PhcHolders, FdinfoFlagsSayWhetherTheDescriptorWrites) {
  EXPECT_TRUE(fdinfo_opened_for_writing("pos:\t0\nflags:\t0100002\nmnt_id:\t25\n"));   // O_RDWR
  EXPECT_TRUE(fdinfo_opened_for_writing("pos:\t0\nflags:\t01\n"));                     // O_WRONLY
  EXPECT_FALSE(fdinfo_opened_for_writing("pos:\t0\nflags:\t02100000\nmnt_id:\t25\n"));  // O_RDONLY|O_CLOEXEC
  EXPECT_FALSE(fdinfo_opened_for_writing("pos:\t0\n"));
  EXPECT_FALSE(fdinfo_opened_for_writing("flags:\tzz\n"));
}

}  // namespace
}  // namespace kairos::phcstat
