#include "base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/quote.h"

namespace ggrt {
namespace {

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

absl::StatusOr<RegularFile> RegularFile::Open(const std::string& path, const char* what) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. It does not affect reads
  // of regular files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return absl::NotFoundError(absl::StrCat("cannot open ", what, " ", Quote(path), ": ", std::strerror(err)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot stat ", what, " ", Quote(path), ": ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", Quote(path), " is ", KindOf(st.st_mode), "; a regular file is needed"));
  }
  return RegularFile(fd, static_cast<uint64_t>(st.st_size));
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::string> ReadRegularFile(const std::string& path, uint64_t max_bytes, const char* what) {
  absl::StatusOr<RegularFile> file = RegularFile::Open(path, what);
  if (!file.ok()) return file.status();
  if (file->size() > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(what, " ", Quote(path), " is ", file->size(),
                                                     " bytes; at most ", max_bytes, " are read"));
  }
  std::string out(file->size(), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(file->fd(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : 0;
      return absl::DataLossError(absl::StrCat("cannot read ", what, " ", Quote(path), ": ",
                                              n < 0 ? std::strerror(err) : "it shrank while being read"));
    }
    done += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace ggrt
