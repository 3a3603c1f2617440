#pragma once
// A datagram socket for interface ioctls (SIOCGIFINDEX, SIOCETHTOOL, SIOC[GS]HWTSTAMP), made the
// way an interposing simulator accepts (socket type without SOCK_* flags, close-on-exec through
// fcntl), and the interface index through that socket rather than libc's if_nametoindex (whose
// own socket and ioctl are not interposable).
#include <string>

namespace kairos {

// A new socket descriptor, or -1 with errno set. The caller closes it.
int open_ioctl_socket();
// The interface's index, or 0 when there is no such interface.
int interface_index(const std::string& name);

}  // namespace kairos
