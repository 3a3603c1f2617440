#include "nts/openssl_error.hpp"

#include <openssl/err.h>

namespace kairos {

std::string openssl_error(std::string_view what) {
  std::string out(what);
  out += ": ";
  bool any = false;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (any) out += "; ";
    out += buf;
    any = true;
  }
  if (!any) out += "unknown OpenSSL error";
  return out;
}

}  // namespace kairos
