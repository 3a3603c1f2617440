// Cost of the per-packet work of an NTS client and server: parsing, sealing and verifying a
// typical request (32-byte UID, one 100-byte cookie, 16-byte nonce, AEAD 15) and its response.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "nts/aead.hpp"
#include "nts/ntp_packet.hpp"
#include "nts/nts_packet.hpp"

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;

Buffer filled(std::size_t n, std::uint8_t first) {
  Buffer b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(first + i);
  return b;
}

Aead make_aead(std::uint8_t fill) { return std::move(*Aead::create(AeadId::kAesSivCmac256, Buffer(32, fill))); }

// A typical request carries no encrypted fields: its AEAD plaintext is empty.
struct Fixture {
  Aead c2s = make_aead(0x11);
  Aead s2c = make_aead(0x22);
  Buffer uid = filled(32, 0xa0);
  Buffer cookie = filled(100, 0x10);
  Buffer nonce = filled(16, 0x50);
  Buffer fresh_cookie = filled(100, 0x80);
  Buffer request;
  Buffer response;

  Fixture() {
    if (!build(request)) throw std::runtime_error("cannot build the benchmark's NTS request");
    response.resize(1500);
    auto n = respond(response);
    response.resize(n ? n->length : 0);
  }

  NtsRequestParts request_parts() const {
    NtsRequestParts parts;
    parts.header.mode = NtpMode::kClient;
    parts.unique_id = uid;
    parts.cookie = cookie;
    parts.nonce = nonce;
    return parts;
  }

  bool build(Buffer& out) {
    out.resize(1500);
    auto n = build_nts_request(request_parts(), c2s, out);
    out.resize(n.value_or(0));
    return n.has_value();
  }

  Result<NtsBuiltResponse> respond(std::span<std::uint8_t> out) {
    const ByteView cookies[] = {fresh_cookie};
    NtsResponseParts parts;
    parts.header.mode = NtpMode::kServer;
    parts.header.stratum = 2;
    parts.unique_id = uid;
    parts.cookies = cookies;
    parts.nonce = nonce;
    return build_nts_response(parts, s2c, request.size(), out);
  }
};

void BM_ParseNtpPacket_NtsRequest(benchmark::State& state) {
  Fixture f;
  for (auto _ : state) {
    auto parsed = parse_ntp_packet(f.request);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_ParseNtpPacket_NtsRequest);

void BM_ParseNtsRequest_Keyless(benchmark::State& state) {
  Fixture f;
  for (auto _ : state) {
    auto view = parse_nts_request(f.request);
    benchmark::DoNotOptimize(view);
  }
}
BENCHMARK(BM_ParseNtsRequest_Keyless);

void BM_BuildNtsRequest_Aead15(benchmark::State& state) {
  Fixture f;
  Buffer out(1500);
  const NtsRequestParts parts = f.request_parts();
  for (auto _ : state) {
    auto n = build_nts_request(parts, f.c2s, out);
    if (!n) {
      state.SkipWithError(n.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_BuildNtsRequest_Aead15);

void BM_VerifyNtsRequest_Aead15(benchmark::State& state) {
  Fixture f;
  Buffer plaintext(64);
  for (auto _ : state) {
    auto view = parse_nts_request(f.request);
    auto fields = verify_nts_request(*view, f.c2s, plaintext);
    if (!fields) {
      state.SkipWithError(fields.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(fields);
  }
}
BENCHMARK(BM_VerifyNtsRequest_Aead15);

void BM_BuildNtsResponse_Aead15(benchmark::State& state) {
  Fixture f;
  Buffer out(1500);
  for (auto _ : state) {
    auto built = f.respond(out);
    if (!built) {
      state.SkipWithError(built.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_BuildNtsResponse_Aead15);

void BM_VerifyNtsResponse_Aead15(benchmark::State& state) {
  Fixture f;
  for (auto _ : state) {
    auto verified = verify_nts_response(f.response, f.uid, f.s2c);
    if (!verified) {
      state.SkipWithError(verified.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(verified);
  }
}
BENCHMARK(BM_VerifyNtsResponse_Aead15);

}  // namespace
}  // namespace kairos
