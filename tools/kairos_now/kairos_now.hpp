#pragma once
// A C++ face on kairos_now.h: the handle closed by RAII, errors as plain codes (C++17 users have
// no std::expected). Header-only; link the C library kairos_now.
//
//   kairos::TimePage page;              // KAIROS_SHM_DEFAULT_PATH
//   kairos_time t;
//   if (page.ok() && page.now(0, t) == 0 && KAIROS_NOW_USABLE(t.status)) { ... }
#include <utility>

#include "kairos_now.h"

namespace kairos {

class TimePage {
 public:
  explicit TimePage(const char* path = nullptr) { error_ = kairos_open(path, &handle_); }
  TimePage(TimePage&& other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)), error_(std::exchange(other.error_, KAIROS_E_ARGUMENT)) {}
  TimePage& operator=(TimePage&& other) noexcept {
    if (this != &other) {
      kairos_close(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
      error_ = std::exchange(other.error_, KAIROS_E_ARGUMENT);
    }
    return *this;
  }
  TimePage(const TimePage&) = delete;
  TimePage& operator=(const TimePage&) = delete;
  ~TimePage() { kairos_close(handle_); }

  bool ok() const { return handle_ != nullptr; }
  // 0, or why the page could not be opened (a KAIROS_E_* code).
  int error() const { return error_; }
  const char* error_message() const { return kairos_strerror(error_); }

  // The bound on true time of the clock at `clock_index`, now: 0 or a KAIROS_E_* code.
  int now(int clock_index, kairos_time& out) const {
    return handle_ ? kairos_now(handle_, clock_index, &out) : error_;
  }
  int read_clock(int clock_index, kairos_shm_clock& out) const {
    return handle_ ? kairos_read_clock(handle_, clock_index, &out) : error_;
  }
  int clock_count() const { return handle_ ? kairos_clock_count(handle_) : error_; }

 private:
  kairos_handle* handle_ = nullptr;
  int error_ = 0;
};

}  // namespace kairos
