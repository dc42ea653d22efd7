// Crafts the hostile images of the test corpus (tests/corpus/make_corpus) byte by byte, where the
// image tools will not go, and the one HEIF property (irot) that no installed tool writes. Each
// subcommand writes the file OUT; those that start from an existing image read it on stdin.
//   png-bomb OUT BYTES           a 1x1 grey PNG whose IDAT inflates to BYTES zero bytes
//   png-header OUT WIDTH HEIGHT  an RGB PNG whose IHDR says WIDTH x HEIGHT, with a few rows of
//                                IDAT (a complete zlib stream, far too short for the image)
//   jpeg-sof OUT WIDTH HEIGHT    the JPEG on stdin with its frame header (SOFn) saying
//                                WIDTH x HEIGHT
//   jpeg-scans OUT COUNT         the progressive JPEG on stdin with its smallest refinement scan
//                                repeated in place until the file has COUNT scans
//   heif-irot OUT TURNS          the HEIF on stdin with an irot property on its primary item:
//                                TURNS quarter turns anticlockwise, which a viewer applies
//   corrupt OUT                  the file on stdin with a block in its middle overwritten by fixed
//                                pseudo-random bytes; in a PNG the block stays inside one IDAT,
//                                whose CRC is made to match, so the damage reaches the inflater
// Exit codes: 0; 1 when the input is not what the subcommand needs; 64 on bad usage; 74 when OUT
// cannot be written; 70 on anything else.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>
#include <zlib.h>

#include "eye/core/error.hpp"
#include "eye/core/file.hpp"

namespace {

using Bytes = std::string;

const std::string_view k_png_signature("\x89PNG\r\n\x1a\n", 8);

std::uint64_t read_uint(const Bytes& bytes, std::size_t at, int size) {
    std::uint64_t value = 0;
    for (int i = 0; i < size; ++i) {
        value = value << 8 | static_cast<unsigned char>(bytes.at(at + i));
    }
    return value;
}

void set_uint(Bytes& bytes, std::size_t at, int size, std::uint64_t value) {
    for (int i = size - 1; i >= 0; --i) {
        bytes.at(at + i) = static_cast<char>(value & 0xff);
        value >>= 8;
    }
}

void append_uint(Bytes& bytes, std::uint64_t value, int size) {
    bytes.append(size, '\0');
    set_uint(bytes, bytes.size() - size, size, value);
}

[[noreturn]] void refuse(const std::string& message, const std::string& hint = {}) {
    throw eye::Error(eye::ExitCode::failed, message, hint);
}

Bytes read_stdin() {
    return Bytes(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

void write(const std::string& path, const Bytes& content) {
    auto written = eye::write_file_atomically(path, content);
    if (!written) {
        throw eye::IoError("cannot write '" + path + "': " + written.error());
    }
}

std::uint64_t number(const std::string& text, std::uint64_t max) {
    bool digits =
        !text.empty() && text.size() < 20 &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoull(text) > max) {
        throw eye::UsageError("'" + text + "' is not a number from 0 to " + std::to_string(max));
    }
    return std::stoull(text);
}

// The zlib stream of `count` zero bytes, about a thousandth of their size.
Bytes deflate_zeros(std::uint64_t count) {
    struct Deflater {
        z_stream stream{};
        Deflater() {
            if (deflateInit2(&stream, 9, Z_DEFLATED, 15, 9, Z_RLE) != Z_OK) {
                refuse("zlib's deflateInit2 failed");
            }
        }
        ~Deflater() { deflateEnd(&stream); }
    } deflater;
    z_stream& stream = deflater.stream;
    std::vector<unsigned char> zeros(1 << 20);
    std::vector<unsigned char> out(1 << 20);
    Bytes deflated;
    int status = Z_OK;
    while (status != Z_STREAM_END) {
        auto chunk = std::min<std::uint64_t>(count, zeros.size());
        count -= chunk;
        stream.next_in = zeros.data();
        stream.avail_in = static_cast<uInt>(chunk);
        do {
            stream.next_out = out.data();
            stream.avail_out = static_cast<uInt>(out.size());
            status = deflate(&stream, count == 0 ? Z_FINISH : Z_NO_FLUSH);
            if (status == Z_STREAM_ERROR) {
                refuse("zlib's deflate failed");
            }
            deflated.append(reinterpret_cast<const char*>(out.data()),
                            out.size() - stream.avail_out);
        } while (stream.avail_out == 0);
    }
    return deflated;
}

void append_png_chunk(Bytes& png, std::string_view type, std::string_view data) {
    append_uint(png, data.size(), 4);
    auto begin = png.size();
    png.append(type).append(data);
    auto crc = crc32(0, reinterpret_cast<const Bytef*>(png.data() + begin), png.size() - begin);
    append_uint(png, crc, 4);
}

// IHDR, the zlib stream split into IDAT chunks as encoders do, IEND.
Bytes png(std::uint32_t width, std::uint32_t height, int colour_type, const Bytes& zlib_stream) {
    Bytes png(k_png_signature);
    Bytes header;
    append_uint(header, width, 4);
    append_uint(header, height, 4);
    header += static_cast<char>(8);
    header += static_cast<char>(colour_type);
    header.append(3, '\0');
    append_png_chunk(png, "IHDR", header);
    constexpr std::size_t k_idat_size = 65536;
    for (std::size_t at = 0; at < zlib_stream.size(); at += k_idat_size) {
        append_png_chunk(png, "IDAT", std::string_view(zlib_stream).substr(at, k_idat_size));
    }
    append_png_chunk(png, "IEND", {});
    return png;
}

constexpr int k_grey = 0;
constexpr int k_rgb = 2;

void png_bomb(const std::vector<std::string>& args) {
    write(args[0], png(1, 1, k_grey, deflate_zeros(number(args[1], std::uint64_t{1} << 36))));
}

void png_header(const std::vector<std::string>& args) {
    auto width = number(args[1], 0x7fffffff);
    auto height = number(args[2], 0x7fffffff);
    auto row_bytes = 1 + 3 * width;
    // up to 16 rows, at most a megabyte of them, but always one
    auto rows =
        std::min<std::uint64_t>({height, 16, std::max<std::uint64_t>(1, (1 << 20) / row_bytes)});
    auto zlib_stream = deflate_zeros(rows * row_bytes);
    write(args[0], png(static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height), k_rgb,
                       zlib_stream));
}

// A JPEG segment from its marker to the start of the next one; for a scan (SOS) that includes
// its entropy-coded data.
struct Segment {
    std::size_t begin = 0;
    std::size_t end = 0;
    unsigned char marker = 0;
};

std::vector<Segment> jpeg_segments(const Bytes& jpeg) {
    if (read_uint(jpeg, 0, 2) != 0xffd8) {
        refuse("the input is not a JPEG: it does not start with SOI");
    }
    std::vector<Segment> segments;
    std::size_t at = 2;
    while (true) {
        if (static_cast<unsigned char>(jpeg.at(at)) != 0xff) {
            refuse("no JPEG marker at offset " + std::to_string(at));
        }
        while (static_cast<unsigned char>(jpeg.at(at + 1)) == 0xff) {
            ++at;
        }
        Segment segment{at, at + 2, static_cast<unsigned char>(jpeg.at(at + 1))};
        if (segment.marker == 0xd9) {
            segments.push_back(segment);
            return segments;
        }
        segment.end += read_uint(jpeg, at + 2, 2);
        if (segment.marker == 0xda) {
            // entropy-coded data ends at the first marker that is neither a stuffed zero nor RSTn
            while (true) {
                auto next = static_cast<unsigned char>(jpeg.at(segment.end + 1));
                if (jpeg.at(segment.end) == '\xff' && next != 0 && (next < 0xd0 || next > 0xd7)) {
                    break;
                }
                ++segment.end;
            }
        }
        segments.push_back(segment);
        at = segment.end;
    }
}

void jpeg_sof(const std::vector<std::string>& args) {
    auto width = number(args[1], 0xffff);
    auto height = number(args[2], 0xffff);
    Bytes jpeg = read_stdin();
    for (const auto& segment : jpeg_segments(jpeg)) {
        bool is_frame = segment.marker >= 0xc0 && segment.marker <= 0xcf &&
                        segment.marker != 0xc4 && segment.marker != 0xc8 && segment.marker != 0xcc;
        if (is_frame) {
            set_uint(jpeg, segment.begin + 5, 2, height);
            set_uint(jpeg, segment.begin + 7, 2, width);
            write(args[0], jpeg);
            return;
        }
    }
    refuse("the JPEG on stdin has no frame header (SOFn)");
}

void jpeg_scans(const std::vector<std::string>& args) {
    auto count = number(args[1], 1000000);
    Bytes jpeg = read_stdin();
    std::size_t scans = 0;
    // the smallest refinement scan, so that thousands of copies stay a few megabytes
    const Segment* smallest = nullptr;
    auto segments = jpeg_segments(jpeg);
    for (const auto& segment : segments) {
        if (segment.marker != 0xda) {
            continue;
        }
        ++scans;
        // SOS: length, component count Ns, Ns selectors of 2 bytes, Ss, Se, then Ah:Al
        auto components = read_uint(jpeg, segment.begin + 4, 1);
        auto successive = read_uint(jpeg, segment.begin + 7 + 2 * components, 1);
        bool refines = (successive >> 4) != 0;
        auto size = segment.end - segment.begin;
        if (refines && (!smallest || size < smallest->end - smallest->begin)) {
            smallest = &segment;
        }
    }
    if (!smallest) {
        refuse("the JPEG on stdin has no refinement scan",
               "give it a progressive JPEG (jpegtran -progressive)");
    }
    if (count < scans) {
        refuse("the JPEG on stdin already has " + std::to_string(scans) + " scans");
    }
    Bytes scan = jpeg.substr(smallest->begin, smallest->end - smallest->begin);
    Bytes crafted = jpeg.substr(0, smallest->end);
    crafted.reserve(jpeg.size() + (count - scans) * scan.size());
    for (std::size_t i = scans; i < count; ++i) {
        crafted += scan;
    }
    crafted += jpeg.substr(smallest->end);
    write(args[0], crafted);
}

// An ISO BMFF box: [begin, end) in the file, its content from `body` on.
struct Box {
    std::size_t begin = 0;
    std::size_t end = 0;
    std::size_t body = 0;
    std::string type;
};

std::vector<Box> boxes(const Bytes& file, std::size_t begin, std::size_t end) {
    std::vector<Box> found;
    while (begin < end) {
        auto size = read_uint(file, begin, 4);
        if (size == 1) {
            refuse("64-bit box sizes are not supported");
        }
        Box box{begin, size == 0 ? end : begin + size, begin + 8, file.substr(begin + 4, 4)};
        if (box.end > end || box.end < box.body) {
            refuse("the box '" + box.type + "' at offset " + std::to_string(begin) +
                   " does not fit in its parent");
        }
        found.push_back(box);
        begin = box.end;
    }
    return found;
}

const Box& find(const std::vector<Box>& found, std::string_view type) {
    auto box =
        std::find_if(found.begin(), found.end(), [&](const Box& b) { return b.type == type; });
    if (box == found.end()) {
        refuse("the HEIF on stdin has no '" + std::string(type) + "' box");
    }
    return *box;
}

// Adds `delta` to the file offsets in the iloc box at `iloc_body` that point at or after
// `moved_from`, where `delta` bytes were inserted.
void move_item_locations(Bytes& heif, std::size_t iloc_body, std::size_t moved_from,
                         std::uint64_t delta) {
    auto version = read_uint(heif, iloc_body, 1);
    std::size_t at = iloc_body + 4;
    int offset_size = static_cast<int>(read_uint(heif, at, 1) >> 4);
    int length_size = static_cast<int>(read_uint(heif, at, 1) & 0xf);
    int base_offset_size = static_cast<int>(read_uint(heif, at + 1, 1) >> 4);
    int index_size =
        version == 1 || version == 2 ? static_cast<int>(read_uint(heif, at + 1, 1) & 0xf) : 0;
    int item_id_size = version < 2 ? 2 : 4;
    at += 2;
    auto items = read_uint(heif, at, item_id_size);
    at += item_id_size;
    auto move = [&](std::size_t field, int size) {
        auto offset = read_uint(heif, field, size);
        if (offset >= moved_from) {
            auto max = size >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << 8 * size) - 1;
            if (size == 0 || offset > max - delta) {
                refuse("an item's offset does not fit in its iloc field");
            }
            set_uint(heif, field, size, offset + delta);
        }
    };
    for (std::uint64_t item = 0; item < items; ++item) {
        at += item_id_size;
        std::uint64_t construction_method = 0;
        if (version == 1 || version == 2) {
            construction_method = read_uint(heif, at, 2) & 0xf;
            at += 2;
        }
        bool in_this_file = construction_method == 0 && read_uint(heif, at, 2) == 0;
        at += 2;
        std::size_t base_offset = at;
        at += base_offset_size;
        auto extents = read_uint(heif, at, 2);
        at += 2;
        if (in_this_file && base_offset_size > 0) {
            move(base_offset, base_offset_size);
        }
        for (std::uint64_t extent = 0; extent < extents; ++extent) {
            at += index_size;
            if (in_this_file && base_offset_size == 0) {
                move(at, offset_size);
            }
            at += offset_size + length_size;
        }
    }
}

void heif_irot(const std::vector<std::string>& args) {
    auto turns = number(args[1], 3);
    Bytes heif = read_stdin();
    const Box meta = find(boxes(heif, 0, heif.size()), "meta");
    auto in_meta = boxes(heif, meta.body + 4, meta.end);
    const Box pitm = find(in_meta, "pitm");
    const Box iloc = find(in_meta, "iloc");
    const Box iprp = find(in_meta, "iprp");
    auto in_iprp = boxes(heif, iprp.body, iprp.end);
    const Box ipco = find(in_iprp, "ipco");
    const Box ipma = find(in_iprp, "ipma");
    if (ipma.begin < ipco.end) {
        refuse("the HEIF's ipma box comes before its ipco box");
    }
    auto primary = read_uint(heif, pitm.body + 4, read_uint(heif, pitm.body, 1) == 0 ? 2 : 4);
    auto property_index = boxes(heif, ipco.body, ipco.end).size() + 1;

    // ipma: entries of item ID, association count, associations (essential bit, 1-based index)
    auto ipma_version = read_uint(heif, ipma.body, 1);
    bool wide_index = (read_uint(heif, ipma.body + 1, 3) & 1) != 0;
    int item_id_size = ipma_version < 1 ? 2 : 4;
    std::size_t at = ipma.body + 8;
    std::size_t count_at = 0;
    for (auto entries = read_uint(heif, ipma.body + 4, 4); entries > 0 && count_at == 0;
         --entries) {
        auto item = read_uint(heif, at, item_id_size);
        at += item_id_size;
        auto associations = read_uint(heif, at, 1);
        if (item == primary) {
            count_at = at;
        }
        at += 1 + associations * (wide_index ? 2 : 1);
    }
    if (count_at == 0 || read_uint(heif, count_at, 1) == 255 ||
        property_index >= (wide_index ? 0x8000u : 0x80u)) {
        refuse("cannot associate one more property with the HEIF's primary item");
    }
    Bytes association;
    append_uint(association, (wide_index ? 0x8000 : 0x80) | property_index, wide_index ? 2 : 1);
    Bytes irot;
    append_uint(irot, 9, 4);
    irot.append("irot").append(1, static_cast<char>(turns));

    // insert from the back, so the earlier offsets stay valid
    auto delta = irot.size() + association.size();
    heif.insert(at, association);
    set_uint(heif, count_at, 1, read_uint(heif, count_at, 1) + 1);
    set_uint(heif, ipma.begin, 4, ipma.end - ipma.begin + association.size());
    heif.insert(ipco.end, irot);
    set_uint(heif, ipco.begin, 4, ipco.end - ipco.begin + irot.size());
    set_uint(heif, iprp.begin, 4, iprp.end - iprp.begin + delta);
    set_uint(heif, meta.begin, 4, meta.end - meta.begin + delta);
    move_item_locations(heif, iloc.begin < ipco.end ? iloc.body : iloc.body + delta, meta.end,
                        delta);
    write(args[0], heif);
}

void corrupt(const std::vector<std::string>& args) {
    Bytes file = read_stdin();
    std::size_t begin = 0;
    std::size_t end = file.size();
    std::size_t idat = 0;
    if (file.compare(0, k_png_signature.size(), k_png_signature) == 0) {
        for (std::size_t at = k_png_signature.size(); idat == 0;
             at += 12 + read_uint(file, at, 4)) {
            if (file.compare(at + 4, 4, "IDAT") == 0 && at + 8 + read_uint(file, at, 4) > end / 2) {
                idat = at;
                begin = at + 8;
                end = begin + read_uint(file, at, 4);
            }
        }
    }
    std::size_t size = std::min<std::size_t>(256, (end - begin) / 4);
    if (size == 0) {
        refuse("the file on stdin is too small to corrupt");
    }
    std::size_t start = std::clamp(file.size() / 2 - size / 2, begin, end - size);
    std::minstd_rand garbage(20240611);
    for (std::size_t i = start; i < start + size; ++i) {
        file[i] = static_cast<char>(garbage() >> 8);
    }
    if (idat != 0) {
        auto length = end - begin;
        auto crc = crc32(0, reinterpret_cast<const Bytef*>(file.data() + idat + 4), length + 4);
        set_uint(file, end, 4, crc);
    }
    write(args[0], file);
}

struct Command {
    std::string_view name;
    std::string_view arguments;
    std::size_t arity;
    std::function<void(const std::vector<std::string>&)> run;
};

const std::vector<Command> k_commands = {
    {"png-bomb", "OUT BYTES", 2, png_bomb},
    {"png-header", "OUT WIDTH HEIGHT", 3, png_header},
    {"jpeg-sof", "OUT WIDTH HEIGHT < in.jpg", 3, jpeg_sof},
    {"jpeg-scans", "OUT COUNT < progressive.jpg", 2, jpeg_scans},
    {"heif-irot", "OUT TURNS < in.heic", 2, heif_irot},
    {"corrupt", "OUT < in", 1, corrupt},
};

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        auto command = std::find_if(k_commands.begin(), k_commands.end(), [&](const Command& c) {
            return !args.empty() && c.name == args[0];
        });
        if (command == k_commands.end()) {
            std::string usage;
            for (const auto& c : k_commands) {
                usage += "\n  eye-test-hostile-image " + std::string(c.name) + " " +
                         std::string(c.arguments);
            }
            if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
                std::cout << "usage:" << usage << '\n';
                return 0;
            }
            throw eye::UsageError(
                args.empty() ? "no subcommand" : "unknown subcommand '" + args[0] + "'",
                "usage:" + usage);
        }
        args.erase(args.begin());
        if (args.size() != command->arity) {
            throw eye::UsageError("wrong number of arguments",
                                  "usage: eye-test-hostile-image " + std::string(command->name) +
                                      " " + std::string(command->arguments));
        }
        command->run(args);
        return 0;
    } catch (const eye::Error& error) {
        std::cerr << "eye-test-hostile-image: " << error.what() << '\n';
        if (!error.hint().empty()) {
            std::cerr << "hint: " << error.hint() << '\n';
        }
        return eye::to_int(error.code());
    } catch (const std::out_of_range&) {
        std::cerr << "eye-test-hostile-image: the input ends in the middle of a structure\n";
        return eye::to_int(eye::ExitCode::failed);
    } catch (const std::exception& error) {
        std::cerr << "eye-test-hostile-image: " << error.what() << '\n';
        return eye::to_int(eye::ExitCode::software);
    }
}
