import CJPEG
import CPNG
import Foundation

/// One decoded image: `height` rows of `width * channels` bytes, channels interleaved;
/// 1 (grey) or 3 (RGB) channels — an alpha channel is dropped, as PIL's convert("RGB") and
/// so torchvision's ImageFolder loader do.
public struct DecodedImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels, "\(pixels.count) bytes for \(width)x\(height)x\(channels)")
        self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
    }
}

/// PNG (libpng's simplified API: any bit depth, palette, grey, alpha, converted to 8-bit
/// sRGB) and JPEG (libjpeg-turbo, the default integer IDCT) from memory. Every failure is a
/// `DataError.badImage` naming the file; sizes are checked from the header, before the
/// pixels are allocated.
public enum ImageDecoder {
    /// Larger images are refused from their header (a 50 KB file can claim 60 000 x 60 000).
    public static let maxSide = 16_384
    public static let maxPixels = 64 << 20

    public enum Format: String, Sendable { case png, jpeg }

    /// The format by the file's magic bytes (not its name), or nil.
    public static func format(of bytes: [UInt8]) -> Format? {
        if bytes.count >= 8 && bytes.prefix(8).elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF { return .jpeg }
        return nil
    }

    public static func decode(_ bytes: [UInt8], path: String) throws -> DecodedImage {
        switch format(of: bytes) {
        case .png: return try decodePNG(bytes, path: path)
        case .jpeg: return try decodeJPEG(bytes, path: path)
        case nil: throw DataError.badImage(path: path, reason: "neither PNG nor JPEG data (by its first bytes)")
        }
    }

    static func checkSize(width: Int, height: Int, path: String) throws {
        guard width > 0, height > 0 else { throw DataError.badImage(path: path, reason: "its header claims \(width) x \(height) pixels") }
        guard width <= maxSide, height <= maxSide, width * height <= maxPixels else {
            throw DataError.badImage(path: path, reason: "its header claims \(width) x \(height) pixels; at most \(maxSide) per side and \(maxPixels >> 20) M pixels are read")
        }
    }

    static func decodePNG(_ bytes: [UInt8], path: String) throws -> DecodedImage {
        // libpng reads from the caller's memory until finish_read: one pointer for both calls.
        try bytes.withUnsafeBytes { memory in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            defer { png_image_free(&image) }
            func message() -> String {
                withUnsafeBytes(of: &image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            }
            guard png_image_begin_read_from_memory(&image, memory.baseAddress, memory.count) != 0 else {
                throw DataError.badImage(path: path, reason: "PNG: \(message())")
            }
            let width = Int(image.width), height = Int(image.height)
            try checkSize(width: width, height: height, path: path)
            let colour = image.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
            let alpha = image.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
            image.format = (colour ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0) | (alpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
            // 16-bit samples are sRGB-encoded like 8-bit ones (as PIL reads them), not linear.
            image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
            let stored = (colour ? 3 : 1) + (alpha ? 1 : 0)
            var buffer = [UInt8](repeating: 0, count: width * height * stored)
            let finished = buffer.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * stored), nil) }
            guard finished != 0 else { throw DataError.badImage(path: path, reason: "PNG: \(message())") }
            guard alpha else { return DecodedImage(width: width, height: height, channels: stored, pixels: buffer) }
            let kept = stored - 1
            var out = [UInt8](repeating: 0, count: width * height * kept)
            for p in 0..<(width * height) { for c in 0..<kept { out[p * kept + c] = buffer[p * stored + c] } }
            return DecodedImage(width: width, height: height, channels: kept, pixels: out)
        }
    }

    static func decodeJPEG(_ bytes: [UInt8], path: String) throws -> DecodedImage {
        var width: Int32 = 0, height: Int32 = 0, components: Int32 = 0
        var message = [CChar](repeating: 0, count: Int(JMSG_LENGTH_MAX))
        func fail() -> DataError {
            DataError.badImage(path: path, reason: "JPEG: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        let header = bytes.withUnsafeBufferPointer {
            pare_jpeg_decode($0.baseAddress, UInt($0.count), nil, 0, &width, &height, &components, &message)
        }
        guard header == 0 else { throw fail() }
        try checkSize(width: Int(width), height: Int(height), path: path)
        var out = [UInt8](repeating: 0, count: Int(width) * Int(height) * Int(components))
        let decoded = bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer {
                pare_jpeg_decode(src.baseAddress, UInt(src.count), $0.baseAddress, UInt($0.count), &width, &height, &components, &message)
            }
        }
        guard decoded == 0 else { throw fail() }
        return DecodedImage(width: Int(width), height: Int(height), channels: Int(components), pixels: out)
    }
}
