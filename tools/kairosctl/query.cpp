#include "query.hpp"

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "daemon/client/ke_fetch.hpp"
#include "daemon/client/net.hpp"
#include "daemon/client/ntp_query.hpp"

namespace kairos {
namespace {

using Json = nlohmann::ordered_json;

const char* leap_name(NtpLeap leap) {
  switch (leap) {
    case NtpLeap::kNone: return "none";
    case NtpLeap::kInsertSecond: return "insert";
    case NtpLeap::kDeleteSecond: return "delete";
    case NtpLeap::kUnsynchronized: return "unsynchronized";
  }
  return "unknown";
}

const char* aead_name(std::uint16_t id) {
  switch (id) {
    case 15: return "AEAD_AES_SIV_CMAC_256";
    case 16: return "AEAD_AES_SIV_CMAC_384";
    case 17: return "AEAD_AES_SIV_CMAC_512";
    default: return "unknown";
  }
}


struct Report {
  std::string server;
  std::string ke_server;
  std::optional<std::uint16_t> aead;
  std::size_t cookies = 0;
  std::vector<NtpExchangeResult> samples;
  std::size_t rejected = 0;
  std::size_t nts_ke_count = 0;
};

Json sample_json(const NtpExchangeResult& r, const Report& report) {
  const NtpHeader& h = r.sample.header;
  Json j;
  j["offset"] = r.sample.offset.seconds();
  j["delay"] = r.sample.delay.seconds();
  j["stratum"] = h.stratum;
  j["leap"] = leap_name(h.leap);
  j["authenticated"] = r.sample.authenticated;
  j["aead"] = report.aead ? Json(*report.aead) : Json(nullptr);
  j["server"] = report.server;
  j["reference_id"] = reference_id_text(h);
  j["root_delay"] = h.root_delay.to_duration().seconds();
  j["root_dispersion"] = h.root_dispersion.to_duration().seconds();
  j["precision"] = static_cast<double>(std::ldexp(1.0, h.precision));
  j["poll"] = h.poll;
  j["version"] = h.version;
  j["cookies_received"] = r.sample.cookies_received;
  j["t1_source"] = to_string(r.t1_source);
  j["t4_source"] = to_string(r.t4_source);
  j["request_length"] = r.request_length;
  j["response_length"] = r.response_length;
  return j;
}

void print_text(const Report& report, const NtpExchangeResult& best) {
  std::printf("server          %s\n", report.server.c_str());
  if (report.aead) {
    std::printf("nts-ke          %s, AEAD %u (%s), %zu cookies\n", report.ke_server.c_str(), *report.aead,
                aead_name(*report.aead), report.cookies);
  }
  for (std::size_t i = 0; i < report.samples.size(); ++i) {
    const auto& s = report.samples[i];
    std::printf("sample %-8zu offset %+.9f s  delay %.9f s  stamps %s/%s%s\n", i + 1, s.sample.offset.seconds(),
                s.sample.delay.seconds(), to_string(s.t1_source), to_string(s.t4_source),
                s.sample.authenticated ? "  authenticated" : "");
  }
  const NtpHeader& h = best.sample.header;
  std::printf("offset          %+.9f s (sample with the lowest delay)\n", best.sample.offset.seconds());
  std::printf("delay           %.9f s\n", best.sample.delay.seconds());
  std::printf("stratum         %u\n", h.stratum);
  std::printf("leap            %s\n", leap_name(h.leap));
  std::printf("reference id    %s\n", reference_id_text(h).c_str());
  std::printf("root delay      %.6f s\n", h.root_delay.to_duration().seconds());
  std::printf("root dispersion %.6f s\n", h.root_dispersion.to_duration().seconds());
  std::printf("precision       %.3g s\n", std::ldexp(1.0, h.precision));
  std::printf("authenticated   %s\n", best.sample.authenticated ? "yes (NTS)" : "no");
  if (report.rejected) std::printf("rejected        %zu responses\n", report.rejected);
}

int failure(const QueryOptions& options, const std::string& reason, const Report* report = nullptr) {
  if (options.json) {
    Json j;
    j["error"] = reason;
    if (report) j["rejected"] = report->rejected;
    std::cout << j.dump(2) << "\n";
  }
  std::fprintf(stderr, "kairosctl: %s\n", reason.c_str());
  return 1;
}

}  // namespace

int run_query(const QueryOptions& options) {
  const auto timeout = std::chrono::milliseconds(static_cast<long>(options.timeout_seconds * 1000));
  auto target = split_host_port(options.target, options.nts ? kNtsKeDefaultPort : kNtpDefaultPort);
  if (!target) return failure(options, target.error().message);

  // Held from the start so the kernel has switched RX stamps on by the first exchange.
  auto stamps_on = hold_rx_timestamping();
  Report report;
  std::optional<NtsClientSession> session;
  std::string ntp_host = target->first;
  std::uint16_t ntp_port = target->second;

  auto key_exchange = [&]() -> Result<void> {
    KeFetchOptions ke{.host = target->first, .port = target->second, .ca_file = options.ca_file,
                      .system_trust = options.system_trust, .aeads = options.aeads, .timeout = timeout};
    auto result = fetch_nts_ke(ke);
    if (!result) return fail("NTS-KE with " + options.target + " failed: " + result.error().message);
    ++report.nts_ke_count;
    auto created = NtsClientSession::create(*result);
    if (!created) return std::unexpected(created.error());
    session.emplace(std::move(*created));
    report.aead = result->keys.aead_id();
    report.cookies = result->cookies.size();
    report.ke_server = target->first + ":" + std::to_string(target->second);
    ntp_host = result->ntp_server;
    ntp_port = result->ntp_port;
    return {};
  };
  if (options.nts) {
    if (auto ok = key_exchange(); !ok) return failure(options, ok.error().message);
  }
  auto addresses = resolve(ntp_host, ntp_port, SOCK_DGRAM);
  if (!addresses) return failure(options, addresses.error().message);
  const SocketAddress& server = addresses->front();
  report.server = server.to_string();

  const RandomFill random = system_random();
  std::string last_error;
  for (int i = 0; i < options.count; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::duration<double>(options.interval_seconds));
    if (session && session->exhausted()) {
      if (auto ok = key_exchange(); !ok) return failure(options, ok.error().message, &report);
    }
    auto exchange = session ? NtpClientExchange::nts(*session, random) : Result<NtpClientExchange>(NtpClientExchange::plain(random));
    if (!exchange) return failure(options, exchange.error().message, &report);
    auto result = run_ntp_exchange(server, *exchange, session ? &*session : nullptr, timeout);
    if (!result) {
      report.rejected += result.error().rejected;
      last_error = result.error().message;
      if (result.error().problem == ResponseProblem::kDenied) break;
      continue;  // NAK dropped the cookies: the next round re-keys
    }
    report.rejected += result->rejected;
    report.samples.push_back(*result);
  }
  if (report.samples.empty()) return failure(options, last_error.empty() ? "no sample" : last_error, &report);

  const NtpExchangeResult* best = &report.samples.front();
  for (const auto& s : report.samples) {
    if (s.sample.delay < best->sample.delay) best = &s;
  }
  if (options.json) {
    Json j = sample_json(*best, report);
    j["ke_server"] = report.ke_server.empty() ? Json(nullptr) : Json(report.ke_server);
    j["cookies"] = report.cookies;
    j["nts_ke_exchanges"] = report.nts_ke_count;
    j["rejected"] = report.rejected;
    j["samples"] = Json::array();
    for (const auto& s : report.samples) j["samples"].push_back(sample_json(s, report));
    std::cout << j.dump(2) << "\n";
  } else {
    print_text(report, *best);
  }
  return 0;
}

}  // namespace kairos
