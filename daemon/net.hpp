#pragma once
// The socket helpers moved into the client library (daemon/client/net.hpp). This name stays only
// for daemon/ptp_socket.hpp, which another branch is changing; include the library's header.
#include "daemon/client/net.hpp"
