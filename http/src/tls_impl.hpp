#pragma once
#include <boost/asio/ssl/context.hpp>

#include "fca/http/tls.hpp"

namespace fca::http {

struct TlsContext::Impl {
  boost::asio::ssl::context context{boost::asio::ssl::context::tls_server};
  TlsContext::Stapler stapler;
};

}  // namespace fca::http
