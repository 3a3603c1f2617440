#pragma once
// Which of a name's addresses a source uses (issue 21 item 5), as chrony does with a name that
// resolves to several servers and with pools. A source takes the first address of its lookup that
// no other member of its pool uses and that it has not given up on; it gives an address up after
// kGiveUpAfter polls (or NTS-KEs) in a row with no valid answer — or, as a pool member, after
// kFalsetickerAfter samples in a row that the selection did not take — when the lookup offered
// another one. The association then looks the name up again and takes the next.
//
// No sockets or clocks here: the association reports what happened, this says what to do.
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/client/net.hpp"

namespace kairos {

// What the members of one pool share: the addresses in use (each by one member) and those given
// up on (remembered, a bounded number, so that the pool moves on to other servers).
class AddressClaims {
 public:
  static constexpr std::size_t kMaxGivenUp = 64;
  bool in_use(const std::string& address) const { return in_use_.count(address) != 0; }
  bool given_up(const std::string& address) const;
  void claim(const std::string& address) { in_use_.insert(address); }
  void release(const std::string& address) { in_use_.erase(address); }
  void give_up(const std::string& address);

 private:
  std::set<std::string> in_use_;
  std::deque<std::string> given_up_;  // oldest first
};

class AddressChoice {
 public:
  static constexpr int kGiveUpAfter = 4;
  static constexpr int kFalsetickerAfter = 8;

  // `claims`: shared by a pool's members; null for a lone source (it gets claims of its own).
  explicit AddressChoice(std::shared_ptr<AddressClaims> claims = nullptr, bool pool_member = false);
  AddressChoice(const AddressChoice&) = delete;
  AddressChoice& operator=(const AddressChoice&) = delete;
  ~AddressChoice();

  // From a lookup's addresses (in its order): the one to use, claimed; nullopt when every one is
  // in use by other members of the pool. One given up on is taken only when no other is free.
  std::optional<SocketAddress> choose(const std::vector<SocketAddress>& addresses);
  const std::optional<SocketAddress>& current() const { return current_; }

  // A valid answer from the current address.
  void answered();
  // A poll or an NTS-KE without one: true when the address is to be given up now.
  bool unanswered();
  // A sample the selection took (true) or left out (false): true when a pool member is to give
  // its address up now (a falseticker, while the pool has other servers to offer).
  bool selected(bool taken);
  // Gives the current address up: released, remembered as given up; choose() takes another.
  void give_up();

 private:
  std::shared_ptr<AddressClaims> claims_;
  bool pool_member_;
  std::optional<SocketAddress> current_;
  bool alternatives_ = false;  // the last lookup offered another free address
  int misses_ = 0;
  int not_selected_ = 0;
};

}  // namespace kairos
