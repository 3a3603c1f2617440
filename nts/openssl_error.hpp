#pragma once
// OpenSSL reports failures on a per-thread error queue; this turns it into a message.
#include <string>
#include <string_view>

namespace kairos {

// "what: <every queued OpenSSL error, oldest first>", and empties the queue.
std::string openssl_error(std::string_view what);

}  // namespace kairos
