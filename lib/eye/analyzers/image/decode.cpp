#include "eye/analyzers/image/decode.hpp"

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vips/vips.h>

#include <fmt/format.h>

#include "eye/analyzers/analyzer.hpp"
#include "eye/analyzers/image/structure.hpp"

namespace eye::analyzers {
namespace {

[[noreturn]] void refuse(std::string message) {
    throw AnalysisError(AnalysisError::Kind::permanent, std::move(message));
}

// libvips once per process: no operation cache (a long-running worker must not grow with every
// image it saw), only the loaders that are fuzzed (the others, ImageMagick's and PDF's among
// them, are refused), one thread per decode (the worker runs decodes side by side itself), and
// its warnings kept out of eye's log: fail_on turns the ones that matter into errors.
void start_vips() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (VIPS_INIT("eye") != 0) {
            throw std::runtime_error(fmt::format("cannot start libvips: {}", vips_error_buffer()));
        }
        vips_cache_set_max(0);
        vips_block_untrusted_set(TRUE);
        vips_concurrency_set(1);
        g_log_set_handler(
            "VIPS", G_LOG_LEVEL_WARNING,
            [](const gchar*, GLogLevelFlags, const gchar*, gpointer) {}, nullptr);
    });
}

struct Unref {
    void operator()(VipsImage* image) const { g_object_unref(image); }
};
using VipsPtr = std::unique_ptr<VipsImage, Unref>;

// libvips' error buffer is shared by all threads; take what is there and clear it.
std::string vips_reason() {
    std::unique_ptr<char, decltype(&g_free)> buffer(vips_error_buffer_copy(), &g_free);
    std::string text = buffer ? buffer.get() : "";
    // one line: the loader's own words, without libvips' "VipsForeignLoad...: " prefixes
    std::string line;
    for (std::size_t start = 0; start < text.size();) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        std::string_view part(text.data() + start, end - start);
        if (auto colon = part.find(": ");
            colon != std::string_view::npos &&
            part.substr(0, colon).find(' ') == std::string_view::npos) {
            part.remove_prefix(colon + 2);
        }
        if (!part.empty() && line.find(part) == std::string::npos) {
            line += line.empty() ? "" : "; ";
            line += part;
        }
        start = end + 1;
    }
    return line.empty() ? "unknown decoder error" : line;
}

// vips_foreign_find_load_buffer names the loader's class
bool supported_loader(const char* loader) {
    constexpr const char* k_loaders[] = {"VipsForeignLoadJpegBuffer", "VipsForeignLoadPngBuffer",
                                         "VipsForeignLoadWebpBuffer", "VipsForeignLoadNsgifBuffer",
                                         "VipsForeignLoadHeifBuffer", "VipsForeignLoadTiffBuffer"};
    for (const char* name : k_loaders) {
        if (loader != nullptr && std::strcmp(loader, name) == 0) {
            return true;
        }
    }
    return false;
}

// The checks before the header, and the header itself.
struct Header {
    ImageFormat format = ImageFormat::other;
    bool whole = false;  // a progressive JPEG or interlaced PNG: no shrinking while loading
    VipsPtr image;
};

// What the decodes of one process may hold at once. One 48-megapixel HEIC fits; two do not, and
// the second waits for the first rather than double the worker's memory.
constexpr std::int64_t k_decode_budget = 512LL << 20;

// The memory a decode of `pixels` pixels holds at its peak, beside the file's bytes, as measured
// with libvips 8.14 on Debian 12: decoders that shrink while loading (JPEG, WebP) hold a few
// rows; PNG and TIFF stream rows through the shrink; a progressive JPEG keeps every coefficient,
// an interlaced PNG every pixel; libheif and GIF decode the whole picture, in more than one copy.
std::int64_t decode_memory(ImageFormat format, bool whole, std::int64_t pixels) {
    double per_pixel = 10;
    switch (format) {
        case ImageFormat::jpeg:
            per_pixel = whole ? 4 : 0.5;
            break;
        case ImageFormat::png:
            per_pixel = whole ? 5 : 2;
            break;
        case ImageFormat::webp:
            per_pixel = 0.5;
            break;
        case ImageFormat::tiff:
            per_pixel = 4;
            break;
        case ImageFormat::gif:
        case ImageFormat::heic:
        case ImageFormat::avif:
        case ImageFormat::other:
            break;
    }
    return static_cast<std::int64_t>(per_pixel * static_cast<double>(pixels)) + (4 << 20);
}

// Decodes take their estimated memory from the budget before they start and give it back when
// they end, waiting while others hold too much of it.
class DecodeBudget {
public:
    void take(std::int64_t bytes) {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_freed.wait(lock, [&] { return m_used + bytes <= k_decode_budget; });
        m_used += bytes;
    }
    void give_back(std::int64_t bytes) {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_used -= bytes;
        }
        m_freed.notify_all();
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_freed;
    std::int64_t m_used = 0;
};

DecodeBudget& decode_budget() {
    static DecodeBudget budget;
    return budget;
}

class BudgetShare {
public:
    explicit BudgetShare(std::int64_t bytes) : m_bytes(bytes) { decode_budget().take(bytes); }
    ~BudgetShare() { decode_budget().give_back(m_bytes); }
    BudgetShare(const BudgetShare&) = delete;
    BudgetShare& operator=(const BudgetShare&) = delete;

private:
    std::int64_t m_bytes;
};

Header open_header(std::string_view bytes, const DecodeLimits& limits) {
    start_vips();
    const auto size = static_cast<std::int64_t>(bytes.size());
    if (size > limits.max_file_bytes) {
        refuse(fmt::format("image file is too large: {} bytes, the limit is {} bytes", size,
                           limits.max_file_bytes));
    }
    Header header;
    header.format = sniff_format(bytes);
    if (header.format == ImageFormat::other) {
        refuse(fmt::format("not a supported image ({})", describe_format(bytes)));
    }
    header.whole = check_structure(bytes, header.format, StructureLimits{limits.max_jpeg_scans});
    const char* loader = vips_foreign_find_load_buffer(bytes.data(), bytes.size());
    if (!supported_loader(loader)) {
        vips_error_clear();
        refuse(fmt::format("cannot decode {}: no decoder recognizes its header",
                           name_of(header.format)));
    }
    header.image.reset(vips_image_new_from_buffer(bytes.data(), bytes.size(), "", "access",
                                                  VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                                  VIPS_FAIL_ON_ERROR, nullptr));
    if (!header.image) {
        refuse(fmt::format("cannot decode {}: {}", name_of(header.format), vips_reason()));
    }
    const std::int64_t width = vips_image_get_width(header.image.get());
    const std::int64_t height = vips_image_get_height(header.image.get());
    if (width * height > limits.max_pixels) {
        refuse(fmt::format("image is too large: {}x{} is {:.1f} megapixels, the limit is {:.1f}",
                           width, height, double(width * height) / 1e6,
                           double(limits.max_pixels) / 1e6));
    }
    return header;
}

DecodedImage facts_of(const Header& header, std::string_view bytes) {
    VipsImage* image = header.image.get();
    DecodedImage decoded;
    decoded.format = header.format;
    const bool swap = vips_image_get_orientation_swap(image) != 0;
    decoded.width = swap ? vips_image_get_height(image) : vips_image_get_width(image);
    decoded.height = swap ? vips_image_get_width(image) : vips_image_get_height(image);
    decoded.bands_in_file = vips_image_get_bands(image);
    const void* exif = nullptr;
    std::size_t length = 0;
    if (vips_image_get_typeof(image, VIPS_META_EXIF_NAME) != 0 &&
        vips_image_get_blob(image, VIPS_META_EXIF_NAME, &exif, &length) == 0 && length > 0) {
        decoded.exif.assign(static_cast<const char*>(exif), length);
    } else if (header.format == ImageFormat::tiff) {
        // a TIFF file is an EXIF block itself: its IFD0 holds Make and Model and points at the
        // EXIF and GPS directories
        decoded.exif = bytes;
    }
    vips_error_clear();
    return decoded;
}

// A decode that runs past its time is cut off between two rows.
struct Deadline {
    std::chrono::steady_clock::time_point at;
    bool passed = false;
};

void on_eval(VipsImage* image, VipsProgress*, Deadline* deadline) {
    if (std::chrono::steady_clock::now() > deadline->at) {
        deadline->passed = true;
        vips_image_set_kill(image, TRUE);
    }
}

// In three steps, each a new image: sRGB (CMYK, 16-bit and grey files are converted), alpha
// composited over white, and 8 bits in exactly three bands.
VipsPtr as_srgb8(VipsPtr image) {
    VipsImage* out = nullptr;
    if (vips_image_get_interpretation(image.get()) != VIPS_INTERPRETATION_sRGB ||
        vips_image_get_format(image.get()) != VIPS_FORMAT_UCHAR) {
        if (vips_colourspace(image.get(), &out, VIPS_INTERPRETATION_sRGB, nullptr) != 0) {
            return nullptr;
        }
        image.reset(out);
    }
    if (vips_image_hasalpha(image.get()) != 0) {
        VipsArrayDouble* white = vips_array_double_newv(3, 255.0, 255.0, 255.0);
        const int failed = vips_flatten(image.get(), &out, "background", white, nullptr);
        vips_area_unref(VIPS_AREA(white));
        if (failed != 0) {
            return nullptr;
        }
        image.reset(out);
    }
    if (vips_image_get_bands(image.get()) != 3) {
        if (vips_extract_band(image.get(), &out, 0, "n", 3, nullptr) != 0) {
            return nullptr;
        }
        image.reset(out);
    }
    if (vips_image_get_format(image.get()) != VIPS_FORMAT_UCHAR) {
        if (vips_cast_uchar(image.get(), &out, nullptr) != 0) {
            return nullptr;
        }
        image.reset(out);
    }
    return image;
}

}  // namespace

DecodedImage read_image_header(std::string_view bytes, const DecodeLimits& limits) {
    const Header header = open_header(bytes, limits);
    return facts_of(header, bytes);
}

DecodedImage decode_image(std::string_view bytes, int max_side, const DecodeLimits& limits) {
    const Header header = open_header(bytes, limits);
    DecodedImage decoded = facts_of(header, bytes);
    const std::string name = name_of(header.format);
    const std::int64_t memory =
        decode_memory(header.format, header.whole,
                      std::int64_t(vips_image_get_width(header.image.get())) *
                          vips_image_get_height(header.image.get()));
    if (memory > k_decode_budget) {
        refuse(fmt::format(
            "image is too large to decode: {}x{} {}{} needs about {} MiB, more "
            "than the {} MiB decoding may use",
            decoded.width, decoded.height,
            header.whole ? (header.format == ImageFormat::jpeg ? "progressive " : "interlaced ")
                         : "",
            name, memory >> 20, k_decode_budget >> 20));
    }
    const BudgetShare share(memory);

    VipsImage* thumbnail = nullptr;
    // fail_on reaches the loader through option_string: libvips 8.14's thumbnail_buffer does
    // not pass on its own fail_on, and a damaged PNG would decode with black rows
    if (vips_thumbnail_buffer(const_cast<char*>(bytes.data()), bytes.size(), &thumbnail, max_side,
                              "height", max_side, "size", VIPS_SIZE_DOWN, "option_string",
                              "fail_on=error", nullptr) != 0) {
        refuse(fmt::format("cannot decode {}: {}", name, vips_reason()));
    }
    VipsPtr image = as_srgb8(VipsPtr(thumbnail));
    if (!image) {
        refuse(fmt::format("cannot convert {} to sRGB: {}", name, vips_reason()));
    }

    Deadline deadline{std::chrono::steady_clock::now() +
                      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                          std::chrono::duration<double>(limits.max_seconds))};
    vips_image_set_progress(image.get(), TRUE);
    g_signal_connect(image.get(), "eval", G_CALLBACK(on_eval), &deadline);
    std::size_t size = 0;
    std::unique_ptr<void, decltype(&g_free)> pixels(vips_image_write_to_memory(image.get(), &size),
                                                    &g_free);
    if (!pixels) {
        if (deadline.passed) {
            vips_error_clear();
            refuse(fmt::format("cannot decode {}: decoding took longer than {:g} s, the limit",
                               name, limits.max_seconds));
        }
        refuse(fmt::format("cannot decode {}: {}", name, vips_reason()));
    }
    decoded.image.width = vips_image_get_width(image.get());
    decoded.image.height = vips_image_get_height(image.get());
    const auto* first = static_cast<const std::uint8_t*>(pixels.get());
    decoded.image.rgb.assign(first, first + size);
    return decoded;
}

}  // namespace eye::analyzers
