#include "hwts/ioctl_socket.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace kairos {

int open_ioctl_socket() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

int interface_index(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return 0;
  const int fd = open_ioctl_socket();
  if (fd < 0) return 0;
  ifreq request{};
  std::memcpy(request.ifr_name, name.data(), name.size());
  const int rc = ::ioctl(fd, SIOCGIFINDEX, &request);
  ::close(fd);
  return rc == 0 ? request.ifr_ifindex : 0;
}

}  // namespace kairos
