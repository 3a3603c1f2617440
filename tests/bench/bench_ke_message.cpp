// Decoding cost of the NTS-KE messages a server and a client see on every key exchange.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "nts/ke_message.hpp"

namespace {

kairos::KeRequest typical_request() {
  kairos::KeRequest request;
  request.aead_algorithms = {15, 16, 17};
  return request;
}

// What a server typically sends: NTPv4, one AEAD and 8 cookies of 100 bytes (RFC 8915 §4.1.6).
kairos::KeResponse typical_response() {
  kairos::KeResponse response;
  response.next_protocol = kairos::kNextProtocolNtpv4;
  response.aead = 15;
  response.cookies.assign(8, std::vector<std::uint8_t>(100, 0xa5));
  return response;
}

void BM_DecodeRequest(benchmark::State& state) {
  const std::vector<std::uint8_t> wire = kairos::encode_request(typical_request()).value();
  for (auto _ : state) {
    auto request = kairos::decode_request(wire);
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}
BENCHMARK(BM_DecodeRequest);

void BM_DecodeResponse8Cookies(benchmark::State& state) {
  const kairos::KeRequest sent = typical_request();
  const std::vector<std::uint8_t> wire = kairos::encode_response(typical_response()).value();
  for (auto _ : state) {
    auto response = kairos::decode_response(wire, sent);
    benchmark::DoNotOptimize(response);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}
BENCHMARK(BM_DecodeResponse8Cookies);

}  // namespace
