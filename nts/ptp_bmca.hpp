#pragma once
// The best master clock algorithm as a slave-only ordinary clock needs it (IEEE 1588-2019 §9.3):
// the dataset comparison of two Announce messages (§9.3.4, Figures 34 and 35), and the foreign
// master records with their qualification (§9.3.2.5: FOREIGN_MASTER_THRESHOLD distinct
// Announces within FOREIGN_MASTER_TIME_WINDOW announce intervals). No IO: times are the caller's
// monotonic seconds.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nts/ptp_message.hpp"

namespace kairos {

// What the comparison reads of one Announce, received on our port `receiver`.
struct AnnouncedDataset {
  std::uint8_t priority1 = 128;
  ClockIdentity grandmaster{};
  ClockQuality quality;
  std::uint8_t priority2 = 128;
  std::uint16_t steps_removed = 0;
  PortIdentity sender;    // the Announce's sourcePortIdentity
  PortIdentity receiver;  // our port
};
AnnouncedDataset dataset_of(const PtpHeader& header, const PtpAnnounce& announce, const PortIdentity& receiver);

// Figure 34's outcomes. "Error-1" (a message from ourselves) and "error-2" (the same message
// twice) are both "neither is better".
enum class DatasetOrder { kABetter, kBBetter, kABetterByTopology, kBBetterByTopology, kError1, kError2 };
DatasetOrder compare_datasets(const AnnouncedDataset& a, const AnnouncedDataset& b);
inline bool a_is_better(DatasetOrder order) {
  return order == DatasetOrder::kABetter || order == DatasetOrder::kABetterByTopology;
}

// An announce interval from its log, clamped to 2^-7..2^7 s: 0x7f or a hostile value must not
// make a window of centuries or of nanoseconds.
double announce_interval(std::int8_t log_interval);

struct ForeignMasterConfig {
  PortIdentity receiver;                // our port
  std::size_t threshold = 2;            // FOREIGN_MASTER_THRESHOLD (§9.3.2.4.4)
  double window_intervals = 4;          // FOREIGN_MASTER_TIME_WINDOW in announce intervals
  std::size_t capacity = 16;            // records kept; a flood of identities cannot grow it
};

// One foreign master: its last Announce and when its recent Announces arrived.
struct ForeignMaster {
  PortIdentity sender;
  std::string address;  // where it sent from (for unicast replies); opaque text
  PtpHeader header;     // of the last Announce: flags (UTC offset valid, timescale, leaps)
  PtpAnnounce announce;
  std::vector<double> receipts;  // within the window, oldest first
  double last_receipt = 0;

  double interval() const { return announce_interval(header.log_interval); }
};

class ForeignMasters {
 public:
  explicit ForeignMasters(ForeignMasterConfig config) : config_(config) {}

  // Records an Announce. Returns false when it is not one a slave may use: stepsRemoved ≥ 255
  // (§9.3.2.5 d), a repeat of the last sequenceId, or a new master with the table full.
  bool on_announce(const PtpHeader& header, const PtpAnnounce& announce, const std::string& address, double now);
  // Qualified: at least `threshold` Announces within the window ending at `now`.
  bool qualified(const ForeignMaster& master, double now) const;
  // The best qualified foreign master, or none.
  const ForeignMaster* best(double now) const;
  const ForeignMaster* find(const PortIdentity& sender) const;
  void erase(const PortIdentity& sender);
  // Drops records with no Announce for the whole window: they can no longer qualify.
  void expire(double now);
  std::size_t size() const { return masters_.size(); }
  AnnouncedDataset dataset(const ForeignMaster& master) const {
    return dataset_of(master.header, master.announce, config_.receiver);
  }

 private:
  double window(const ForeignMaster& master) const { return config_.window_intervals * master.interval(); }

  ForeignMasterConfig config_;
  std::vector<ForeignMaster> masters_;
};

}  // namespace kairos
