#include "mdns.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace fca::app {
namespace {

std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "/usr/bin:/bin";
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::string directory(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    const std::string candidate = (directory.empty() ? "." : directory) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

}  // namespace

MdnsAdvertiser::~MdnsAdvertiser() { stop(); }

bool MdnsAdvertiser::start(spdlog::logger& log, const DnsSdAdvert& advert) {
  const auto program = find_on_path("avahi-publish");
  if (program.empty()) {
    log.warn("mDNS: avahi-publish not found (Debian: avahi-utils, with avahi-daemon running); _nmos-certs._tcp is not "
             "advertised by mDNS. Unicast DNS-SD records: facility-ca dns-sd");
    return false;
  }
  std::vector<std::string> args{program, "-s", "-H", advert.host, advert.instance, "_nmos-certs._tcp",
                                std::to_string(advert.port)};
  for (const auto& item : advert.txt) args.push_back(item);
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t child = ::fork();
  if (child < 0) {
    log.warn("mDNS: cannot start avahi-publish: fork failed");
    return false;
  }
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlives serve
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // serve blocks its signals for sigwait
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  child_ = child;
  log.info("mDNS: advertising {}._nmos-certs._tcp on {}:{} through avahi-publish (pid {})", advert.instance, advert.host,
           advert.port, child);
  return true;
}

void MdnsAdvertiser::stop() {
  if (child_ <= 0) return;
  ::kill(child_, SIGTERM);
  int status = 0;
  ::waitpid(child_, &status, 0);
  child_ = -1;
}

}  // namespace fca::app
