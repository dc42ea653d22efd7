#include "eye/core/file.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <system_error>
#include <unistd.h>

#include <fmt/format.h>

namespace eye {
namespace {

class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : m_fd(fd) {}
    ~FileDescriptor() { close(); }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;

    int get() const { return m_fd; }
    // Closes now; false (errno set) when close reports an error, which for a written file can
    // be the first sign of a full disk.
    bool close() {
        int fd = m_fd;
        m_fd = -1;
        return fd < 0 || ::close(fd) == 0;
    }

private:
    int m_fd;
};

constexpr std::size_t k_buffer_size = 1 << 20;

std::string message_of(int error_number) {
    return std::error_code(error_number, std::generic_category()).message();
}

tl::unexpected<ReadError> system_error(int error_number) {
    ReadError error;
    error.error_number = error_number;
    return tl::make_unexpected(error);
}

bool write_all(int fd, std::string_view content) {
    std::size_t written = 0;
    while (written < content.size()) {
        ssize_t n = ::write(fd, content.data() + written, content.size() - written);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            return false;
        }
        written += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::string ReadError::reason(std::uint64_t limit) const {
    switch (kind) {
        case Kind::not_regular:
            return "not a regular file";
        case Kind::outside:
            return "the path leads outside the folder it must stay in";
        case Kind::too_large:
            return fmt::format("{} bytes, the limit is {} bytes", size, limit);
        case Kind::system:
            break;
    }
    return message_of(error_number);
}

bool ReadError::transient() const {
    return kind == Kind::system &&
           (error_number == EINTR || error_number == EAGAIN || error_number == EMFILE ||
            error_number == ENFILE || error_number == ENOMEM || error_number == EIO ||
            error_number == ESTALE || error_number == ETIMEDOUT || error_number == ENOBUFS);
}

namespace {

constexpr int k_read_flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;

tl::unexpected<ReadError> read_error(ReadError::Kind kind) {
    ReadError error;
    error.kind = kind;
    return tl::make_unexpected(error);
}

// The whole content of the open file `fd` (which it closes), when it is a regular file.
tl::expected<std::string, ReadError> read_open_file(int fd, std::uint64_t max_bytes) {
    FileDescriptor file(fd);
    struct stat info {};
    if (::fstat(file.get(), &info) != 0) {
        return system_error(errno);
    }
    if (!S_ISREG(info.st_mode)) {
        return read_error(ReadError::Kind::not_regular);
    }
    const auto size = static_cast<std::uint64_t>(info.st_size);
    if (size > max_bytes) {
        ReadError error;
        error.kind = ReadError::Kind::too_large;
        error.size = size;
        return tl::make_unexpected(error);
    }
    std::string bytes(static_cast<std::size_t>(size), '\0');
    std::size_t got = 0;
    while (got < bytes.size()) {
        ssize_t n = ::read(file.get(), bytes.data() + got, bytes.size() - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return system_error(errno);
        }
        if (n == 0) {
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    bytes.resize(got);
    return bytes;
}

// Without openat2: one component at a time from the root, never following a link, never "..".
int open_beneath_by_walking(int root_fd, std::string_view relative, ReadError::Kind& refused) {
    int directory = ::dup(root_fd);
    std::size_t start = 0;
    while (directory >= 0) {
        const std::size_t slash = relative.find('/', start);
        const std::string part(relative.substr(
            start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
        int next = -1;
        if (part == "..") {
            refused = ReadError::Kind::outside;
            errno = EXDEV;
        } else if (slash == std::string_view::npos) {
            next = ::openat(directory, part.c_str(), k_read_flags | O_NOFOLLOW);
        } else if (part.empty() || part == ".") {
            next = ::dup(directory);
        } else {
            next = ::openat(directory, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        const int saved = errno;
        if (next < 0 && refused == ReadError::Kind::system) {
            struct stat info {};
            if (::fstatat(directory, part.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(info.st_mode)) {
                refused = ReadError::Kind::outside;  // a link, not followed
            }
        }
        ::close(directory);
        errno = saved;
        if (next < 0 || slash == std::string_view::npos) {
            return next;
        }
        directory = next;
        start = slash + 1;
    }
    return -1;
}

}  // namespace

tl::expected<std::string, ReadError> read_file(const std::filesystem::path& path,
                                               std::uint64_t max_bytes) {
    // non-blocking, so that a FIFO is refused (by fstat) instead of waited on
    int fd = ::open(path.c_str(), k_read_flags);
    if (fd < 0) {
        return system_error(errno);
    }
    return read_open_file(fd, max_bytes);
}

namespace {

tl::expected<std::string, ReadError> read_beneath(const std::filesystem::path& root,
                                                  std::string_view relative,
                                                  std::uint64_t max_bytes, bool use_openat2) {
    if (relative.empty() || relative.front() == '/') {
        return read_error(ReadError::Kind::outside);
    }
    FileDescriptor root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (root_fd.get() < 0) {
        return system_error(errno);
    }
    const std::string path(relative);
    int fd = -1;
    errno = ENOSYS;
    if (use_openat2) {
        struct open_how how {};
        how.flags = static_cast<std::uint64_t>(k_read_flags);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        fd =
            static_cast<int>(::syscall(SYS_openat2, root_fd.get(), path.c_str(), &how, sizeof how));
    }
    ReadError::Kind refused = ReadError::Kind::system;
    if (fd < 0 && errno == ENOSYS) {
        fd = open_beneath_by_walking(root_fd.get(), relative, refused);
    } else if (fd < 0 && errno == EXDEV) {
        refused = ReadError::Kind::outside;
    }
    if (fd < 0) {
        if (refused != ReadError::Kind::system) {
            return read_error(refused);
        }
        return system_error(errno);
    }
    return read_open_file(fd, max_bytes);
}

}  // namespace

tl::expected<std::string, ReadError> read_file_beneath(const std::filesystem::path& root,
                                                       std::string_view relative,
                                                       std::uint64_t max_bytes) {
    return read_beneath(root, relative, max_bytes, true);
}

tl::expected<std::string, ReadError> detail::read_file_beneath_walking(
    const std::filesystem::path& root, std::string_view relative, std::uint64_t max_bytes) {
    return read_beneath(root, relative, max_bytes, false);
}

tl::expected<void, std::string> write_file_atomically(const std::filesystem::path& path,
                                                      std::string_view content, int mode) {
    auto file = AtomicFile::create(path, mode);
    if (!file) {
        return tl::make_unexpected(file.error());
    }
    if (auto written = file->write(content); !written) {
        return written;
    }
    return file->commit();
}

tl::expected<AtomicFile, std::string> AtomicFile::create(const std::filesystem::path& path,
                                                         int mode) {
    // an unpredictable name, created exclusively: in a directory others may write (a shared
    // metrics directory), nobody can have put a file or a symbolic link there for us to open
    std::string name = path.string() + ".tmp.XXXXXX";
    int fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0) {
        return tl::make_unexpected(message_of(errno));
    }
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
        int error_number = errno;
        ::close(fd);
        ::unlink(name.c_str());
        return tl::make_unexpected(message_of(error_number));
    }
    return AtomicFile(path, name, fd);
}

AtomicFile::AtomicFile(std::filesystem::path path, std::filesystem::path temporary, int fd)
    : m_path(std::move(path)), m_temporary(std::move(temporary)), m_fd(fd) {
    m_buffer.reserve(k_buffer_size);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : m_path(std::move(other.m_path)),
      m_temporary(std::move(other.m_temporary)),
      m_fd(other.m_fd),
      m_buffer(std::move(other.m_buffer)),
      m_size(other.m_size),
      m_committed(other.m_committed) {
    other.m_fd = -1;
    other.m_committed = true;  // nothing left for the moved-from object to clean up
}

AtomicFile::~AtomicFile() {
    if (m_fd >= 0) {
        ::close(m_fd);
    }
    if (!m_committed) {
        ::unlink(m_temporary.c_str());
    }
}

tl::expected<void, std::string> AtomicFile::flush() {
    if (!write_all(m_fd, m_buffer)) {
        return tl::make_unexpected(message_of(errno));
    }
    m_buffer.clear();
    return {};
}

tl::expected<void, std::string> AtomicFile::write(std::string_view bytes) {
    if (m_fd < 0) {
        return tl::make_unexpected("the file is closed");
    }
    m_size += bytes.size();
    if (m_buffer.size() + bytes.size() > k_buffer_size) {
        if (auto flushed = flush(); !flushed) {
            return flushed;
        }
        if (bytes.size() >= k_buffer_size) {
            return write_all(m_fd, bytes) ? tl::expected<void, std::string>()
                                          : tl::make_unexpected(message_of(errno));
        }
    }
    m_buffer.append(bytes);
    return {};
}

tl::expected<void, std::string> AtomicFile::commit() {
    if (m_fd < 0) {
        return tl::make_unexpected("the file is closed");
    }
    if (auto flushed = flush(); !flushed) {
        return flushed;
    }
    if (::fsync(m_fd) != 0) {
        return tl::make_unexpected(message_of(errno));
    }
    // close reports errors of its own, which for a written file can be the first sign of a full
    // disk
    int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0) {
        return tl::make_unexpected(message_of(errno));
    }
    if (::rename(m_temporary.c_str(), m_path.c_str()) != 0) {
        return tl::make_unexpected(message_of(errno));
    }
    m_committed = true;
    // the rename is durable only once the directory is: without this a crash can bring the
    // old file back
    std::filesystem::path directory = m_path.parent_path().empty() ? "." : m_path.parent_path();
    FileDescriptor dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0 || ::fsync(dir.get()) != 0) {
        return tl::make_unexpected(fmt::format(
            "the file was written, but its directory could not be synced: {}", message_of(errno)));
    }
    return {};
}

}  // namespace eye
