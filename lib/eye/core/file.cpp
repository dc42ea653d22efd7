#include "eye/core/file.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
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

tl::expected<std::string, ReadError> read_file(const std::filesystem::path& path,
                                               std::uint64_t max_bytes) {
    FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0) {
        return system_error(errno);
    }
    struct stat info {};
    if (::fstat(file.get(), &info) != 0) {
        return system_error(errno);
    }
    if (!S_ISREG(info.st_mode)) {
        ReadError error;
        error.kind = ReadError::Kind::not_regular;
        return tl::make_unexpected(error);
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
