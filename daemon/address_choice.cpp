#include "daemon/address_choice.hpp"

#include <algorithm>

namespace kairos {

bool AddressClaims::given_up(const std::string& address) const {
  return std::find(given_up_.begin(), given_up_.end(), address) != given_up_.end();
}

void AddressClaims::give_up(const std::string& address) {
  release(address);
  if (given_up(address)) return;
  given_up_.push_back(address);
  if (given_up_.size() > kMaxGivenUp) given_up_.pop_front();
}

AddressChoice::AddressChoice(std::shared_ptr<AddressClaims> claims, bool pool_member)
    : claims_(claims ? std::move(claims) : std::make_shared<AddressClaims>()), pool_member_(pool_member) {}

AddressChoice::~AddressChoice() {
  if (current_) claims_->release(current_->to_string());
}

std::optional<SocketAddress> AddressChoice::choose(const std::vector<SocketAddress>& addresses) {
  // The same address again (a retry looks the name up anew) keeps its count of misses.
  const std::string previous = current_ ? current_->to_string() : std::string();
  if (current_) claims_->release(previous);
  current_.reset();
  std::vector<const SocketAddress*> free;
  for (const SocketAddress& a : addresses) {
    const std::string key = a.to_string();
    const bool seen = std::any_of(free.begin(), free.end(), [&](const SocketAddress* f) { return f->to_string() == key; });
    if (!seen && !claims_->in_use(key)) free.push_back(&a);
  }
  if (free.empty()) return std::nullopt;
  // The first not given up on; when all were, the first again (servers come back).
  auto fresh = std::find_if(free.begin(), free.end(), [&](const SocketAddress* a) { return !claims_->given_up(a->to_string()); });
  const SocketAddress* chosen = fresh != free.end() ? *fresh : free.front();
  alternatives_ = free.size() > 1;
  if (chosen->to_string() != previous) {
    misses_ = 0;
    not_selected_ = 0;
  }
  current_ = *chosen;
  claims_->claim(chosen->to_string());
  return current_;
}

void AddressChoice::answered() { misses_ = 0; }

bool AddressChoice::unanswered() { return ++misses_ >= kGiveUpAfter && alternatives_; }

bool AddressChoice::selected(bool taken) {
  not_selected_ = taken ? 0 : not_selected_ + 1;
  return pool_member_ && alternatives_ && not_selected_ >= kFalsetickerAfter;
}

void AddressChoice::give_up() {
  if (current_) claims_->give_up(current_->to_string());
  current_.reset();
  misses_ = 0;
  not_selected_ = 0;
}

}  // namespace kairos
