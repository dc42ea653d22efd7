#include "eye/analyzers/exif.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <libexif/exif-data.h>
#include <libexif/exif-tag.h>
#include <libexif/exif-utils.h>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "eye/json/json.hpp"

namespace eye::analyzers {
namespace {

struct ExifDataUnref {
    void operator()(ExifData* data) const { exif_data_unref(data); }
};

double evaluate_fraction(std::string_view value) {
    const auto slash = value.find('/');
    if (slash != std::string_view::npos) {
        const double numerator = std::strtod(std::string(value.substr(0, slash)).c_str(), nullptr);
        const double denominator =
            std::strtod(std::string(value.substr(slash + 1)).c_str(), nullptr);
        if (denominator != 0) {
            return numerator / denominator;
        }
    }
    return std::strtod(std::string(value).c_str(), nullptr);
}

// PHP's round(): half away from zero.
double round_to(double value, int digits) {
    const double scale = std::pow(10.0, digits);
    return std::round(value * scale) / scale;
}

bool is_numeric(std::string_view value) {
    if (value.empty()) {
        return false;
    }
    char* end = nullptr;
    const std::string text(value);
    std::strtod(text.c_str(), &end);
    return end != nullptr && *end == '\0';
}

// One entry's values as exif_read_data gives them: text, or numbers and "num/den" strings.
struct Values {
    std::optional<std::string> text;
    std::vector<std::string> items;  // a rational as "num/den", an integer as digits
    bool numeric = false;            // items are integers
};

Values values_of(const ExifEntry& entry, ExifByteOrder order) {
    Values values;
    const unsigned char* data = entry.data;
    const std::size_t size = exif_format_get_size(entry.format);
    if (data == nullptr || (size != 0 && entry.size < entry.components * size)) {
        return values;
    }
    for (unsigned long i = 0; i < entry.components; ++i) {
        const unsigned char* at = data + i * size;
        switch (entry.format) {
            case EXIF_FORMAT_RATIONAL: {
                const ExifRational r = exif_get_rational(at, order);
                values.items.push_back(fmt::format("{}/{}", r.numerator, r.denominator));
                break;
            }
            case EXIF_FORMAT_SRATIONAL: {
                const ExifSRational r = exif_get_srational(at, order);
                values.items.push_back(fmt::format("{}/{}", r.numerator, r.denominator));
                break;
            }
            case EXIF_FORMAT_SHORT:
                values.items.push_back(std::to_string(exif_get_short(at, order)));
                values.numeric = true;
                break;
            case EXIF_FORMAT_SSHORT:
                values.items.push_back(std::to_string(exif_get_sshort(at, order)));
                values.numeric = true;
                break;
            case EXIF_FORMAT_LONG:
                values.items.push_back(std::to_string(exif_get_long(at, order)));
                values.numeric = true;
                break;
            case EXIF_FORMAT_SLONG:
                values.items.push_back(std::to_string(exif_get_slong(at, order)));
                values.numeric = true;
                break;
            case EXIF_FORMAT_BYTE:
                values.items.push_back(std::to_string(static_cast<unsigned>(at[0])));
                values.numeric = true;
                break;
            default:
                i = entry.components;  // text and undefined bytes are taken whole below
                break;
        }
    }
    if (entry.format == EXIF_FORMAT_ASCII ||
        (entry.format == EXIF_FORMAT_UNDEFINED && entry.size <= 64)) {
        std::string_view text(reinterpret_cast<const char*>(data), entry.size);
        while (!text.empty() && text.back() == '\0') {
            text.remove_suffix(1);
        }
        values.text = sanitize_exif_text(text);
    }
    return values;
}

// Text for a varchar(255) column: at most 255 characters (not bytes: UTF-8 is kept whole).
std::optional<std::string> column_text(std::optional<std::string> text) {
    if (!text) {
        return text;
    }
    std::size_t characters = 0;
    for (std::size_t i = 0; i < text->size(); ++i) {
        if ((static_cast<unsigned char>((*text)[i]) & 0xC0) != 0x80 && ++characters > 255) {
            text->resize(i);
            break;
        }
    }
    return text;
}

// A TIFF file's IFD0 lists the offset of every strip; the JSON keeps the first ones.
constexpr std::size_t k_max_json_items = 256;

struct Section {
    const char* name;
    ExifIfd ifd;
};
constexpr Section k_sections[] = {{"IFD0", EXIF_IFD_0},
                                  {"EXIF", EXIF_IFD_EXIF},
                                  {"GPS", EXIF_IFD_GPS},
                                  {"INTEROP", EXIF_IFD_INTEROPERABILITY}};

const ExifEntry* entry_of(ExifData* data, ExifIfd ifd, ExifTag tag) {
    return data->ifd[ifd] != nullptr ? exif_content_get_entry(data->ifd[ifd], tag) : nullptr;
}

std::optional<std::string> text_of(ExifData* data, ExifIfd ifd, ExifTag tag) {
    const ExifEntry* entry = entry_of(data, ifd, tag);
    if (entry == nullptr) {
        return std::nullopt;
    }
    Values values = values_of(*entry, exif_data_get_byte_order(data));
    if (values.text) {
        return values.text;
    }
    if (!values.items.empty()) {
        return values.items.front();
    }
    return std::nullopt;
}

std::optional<double> gps_of(ExifData* data, ExifTag coordinate, ExifTag reference,
                             char default_reference) {
    const ExifEntry* entry = entry_of(data, EXIF_IFD_GPS, coordinate);
    if (entry == nullptr) {
        return std::nullopt;
    }
    Values values = values_of(*entry, exif_data_get_byte_order(data));
    if (values.items.size() != 3) {
        return std::nullopt;
    }
    double decimal = evaluate_fraction(values.items[0]) + evaluate_fraction(values.items[1]) / 60 +
                     evaluate_fraction(values.items[2]) / 3600;
    const std::string ref =
        text_of(data, EXIF_IFD_GPS, reference).value_or(std::string(1, default_reference));
    if (ref == "S" || ref == "W") {
        decimal = -decimal;
    }
    return decimal;
}

std::string exif_json(ExifData* data) {
    const ExifByteOrder order = exif_data_get_byte_order(data);
    json::Writer w;
    w.begin_object();
    for (const auto& section : k_sections) {
        ExifContent* content = data->ifd[section.ifd];
        if (content == nullptr || content->count == 0) {
            continue;
        }
        w.key(section.name);
        w.begin_object();
        for (unsigned int i = 0; i < content->count; ++i) {
            const ExifEntry& entry = *content->entries[i];
            const char* name = exif_tag_get_name_in_ifd(entry.tag, section.ifd);
            const std::string key =
                name != nullptr ? name : fmt::format("UndefinedTag:0x{:04X}", entry.tag);
            Values values = values_of(entry, order);
            if (values.text) {
                w.field(key, *values.text);
            } else if (values.items.size() == 1) {
                w.key(key);
                values.numeric ? w.raw(values.items[0]) : w.value(values.items[0]);
            } else if (!values.items.empty()) {
                w.key(key);
                w.begin_array();
                const std::size_t count = std::min(values.items.size(), k_max_json_items);
                for (std::size_t k = 0; k < count; ++k) {
                    values.numeric ? w.raw(values.items[k]) : w.value(values.items[k]);
                }
                w.end_array();
            }
        }
        w.end_object();
    }
    w.end_object();
    return w.take();
}

}  // namespace

std::string format_exposure_time(std::string_view value) {
    return value.find('/') != std::string_view::npos ? std::string(value) + "s"
                                                     : std::string(value);
}

std::string format_f_number(std::string_view value) {
    const auto slash = value.find('/');
    if (slash != std::string_view::npos && evaluate_fraction(value.substr(slash + 1)) != 0) {
        return fmt::format("f/{:.1f}", round_to(evaluate_fraction(value), 1));
    }
    return "f/" + std::string(value);
}

std::optional<double> format_focal_length(std::string_view value) {
    const auto slash = value.find('/');
    if (slash != std::string_view::npos && evaluate_fraction(value.substr(slash + 1)) != 0) {
        return round_to(evaluate_fraction(value), 1);
    }
    return is_numeric(value)
               ? std::optional<double>(std::strtod(std::string(value).c_str(), nullptr))
               : std::nullopt;
}

std::optional<std::string> parse_exif_date(std::string_view value) {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    char tail = 0;
    if (std::sscanf(std::string(value).c_str(), "%4d:%2d:%2d %2d:%2d:%2d%c", &year, &month, &day,
                    &hour, &minute, &second, &tail) != 6) {
        return std::nullopt;
    }
    // a camera without a clock writes zeros; no date is better than year -1 or 31 February
    constexpr int k_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > k_days[month - 1] || hour > 23 ||
        minute > 59 || second > 59) {
        return std::nullopt;
    }
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month == 2 && day == 29 && !leap) {
        return std::nullopt;
    }
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", year, month, day, hour, minute,
                       second);
}

std::string sanitize_exif_text(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size();) {
        const auto c = static_cast<unsigned char>(value[i]);
        std::size_t length = c < 0x80           ? 1
                             : (c >> 5) == 0x6  ? 2
                             : (c >> 4) == 0xE  ? 3
                             : (c >> 3) == 0x1E ? 4
                                                : 0;
        bool valid = length != 0 && i + length <= value.size();
        for (std::size_t k = 1; valid && k < length; ++k) {
            valid = (static_cast<unsigned char>(value[i + k]) & 0xC0) == 0x80;
        }
        if (!valid) {
            out += '?';
            ++i;
            continue;
        }
        if (length == 1 && ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)) {
            ++i;  // NUL and the other control characters
            continue;
        }
        out.append(value.substr(i, length));
        i += length;
    }
    const auto first = out.find_first_not_of(" \t\n\r\v");
    if (first == std::string::npos) {
        return {};
    }
    const auto last = out.find_last_not_of(" \t\n\r\v");
    return out.substr(first, last - first + 1);
}

std::optional<ExifMetadata> read_exif(std::string_view bytes) {
    if (bytes.empty() || bytes.size() > 0xFFFFFFF0u) {
        return std::nullopt;
    }
    // as the file has it: libexif's fix-ups would add the tags the specification requires
    std::unique_ptr<ExifData, ExifDataUnref> data(exif_data_new());
    if (!data) {
        return std::nullopt;
    }
    exif_data_unset_option(data.get(), EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_unset_option(data.get(), EXIF_DATA_OPTION_IGNORE_UNKNOWN_TAGS);
    // libexif wants the "Exif\0\0" header that PNG's eXIf chunk, WebP and TIFF files leave out
    std::string with_header;
    if (bytes.substr(0, 4) == std::string_view("II*\0", 4) ||
        bytes.substr(0, 4) == std::string_view("MM\0*", 4)) {
        with_header.reserve(6 + bytes.size());
        with_header.append("Exif\0\0", 6).append(bytes);
        bytes = with_header;
    }
    exif_data_load_data(data.get(), reinterpret_cast<const unsigned char*>(bytes.data()),
                        static_cast<unsigned int>(bytes.size()));
    bool any = false;
    for (const auto& section : k_sections) {
        any = any || (data->ifd[section.ifd] != nullptr && data->ifd[section.ifd]->count > 0);
    }
    if (!any) {
        return std::nullopt;
    }
    ExifData* d = data.get();
    ExifMetadata metadata;
    metadata.camera_make = column_text(text_of(d, EXIF_IFD_0, EXIF_TAG_MAKE));
    metadata.camera_model = column_text(text_of(d, EXIF_IFD_0, EXIF_TAG_MODEL));
    metadata.lens_model = column_text(text_of(d, EXIF_IFD_EXIF, EXIF_TAG_LENS_MODEL));
    if (auto date = text_of(d, EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_ORIGINAL)) {
        metadata.date_taken = parse_exif_date(*date);
    }
    if (auto exposure = text_of(d, EXIF_IFD_EXIF, EXIF_TAG_EXPOSURE_TIME)) {
        metadata.exposure_time = column_text(format_exposure_time(*exposure));
    }
    if (auto f_number = text_of(d, EXIF_IFD_EXIF, EXIF_TAG_FNUMBER)) {
        metadata.f_number = column_text(format_f_number(*f_number));
    }
    if (auto iso = text_of(d, EXIF_IFD_EXIF, EXIF_TAG_ISO_SPEED_RATINGS); iso && is_numeric(*iso)) {
        const long long value = std::strtoll(iso->c_str(), nullptr, 10);
        if (value >= 0 && value <= 2147483647) {  // an integer column
            metadata.iso = value;
        }
    }
    if (auto focal = text_of(d, EXIF_IFD_EXIF, EXIF_TAG_FOCAL_LENGTH)) {
        metadata.focal_length = format_focal_length(*focal);
        if (metadata.focal_length &&
            !(std::isfinite(*metadata.focal_length) && std::abs(*metadata.focal_length) < 1e6)) {
            metadata.focal_length.reset();  // decimal(8, 2) holds less than a million
        }
    }
    auto latitude = gps_of(d, static_cast<ExifTag>(EXIF_TAG_GPS_LATITUDE),
                           static_cast<ExifTag>(EXIF_TAG_GPS_LATITUDE_REF), 'N');
    auto longitude = gps_of(d, static_cast<ExifTag>(EXIF_TAG_GPS_LONGITUDE),
                            static_cast<ExifTag>(EXIF_TAG_GPS_LONGITUDE_REF), 'E');
    if (latitude && longitude && std::isfinite(*latitude) && std::isfinite(*longitude) &&
        std::abs(*latitude) <= 90 && std::abs(*longitude) <= 180) {
        metadata.gps_latitude = latitude;
        metadata.gps_longitude = longitude;
    }
    metadata.exif_json = exif_json(d);
    return metadata;
}

}  // namespace eye::analyzers
