/// Problems with data files. Every case names the file and what was expected; the
/// description is one line meant for the user.
public enum DataError: Error, CustomStringConvertible, Equatable {
    case missingFile(path: String)
    case unreadable(path: String, reason: String)
    case corruptGzip(path: String, reason: String)
    case badMagic(path: String, expected: String, found: String)
    case truncated(path: String, expectedBytes: Int, foundBytes: Int)
    case countMismatch(images: String, imageCount: Int, labels: String, labelCount: Int)
    case badLabel(path: String, index: Int, label: Int, classes: Int)
    case shapeMismatch(path: String, expected: String, found: String)
    case invalidSplit(String)
    case unknownDataset(String)
    case tooLarge(path: String, limit: Int)
    case badImage(path: String, reason: String)
    case badFolder(path: String, reason: String)
    case badArray(path: String, reason: String)

    public var description: String {
        switch self {
        case let .missingFile(path):
            return "\(path): file not found"
        case let .unreadable(path, reason):
            return "\(path): cannot read (\(reason))"
        case let .corruptGzip(path, reason):
            return "\(path): corrupt or truncated gzip data (\(reason))"
        case let .badMagic(path, expected, found):
            return "\(path): wrong magic number \(found), expected \(expected)"
        case let .truncated(path, expected, found):
            return "\(path): truncated, expected \(expected) bytes, found \(found)"
        case let .countMismatch(images, ic, labels, lc):
            return "\(labels): \(lc) labels but \(images) holds \(ic) images (expected equal counts)"
        case let .badLabel(path, index, label, classes):
            return "\(path): label \(label) at record \(index) outside 0..<\(classes)"
        case let .shapeMismatch(path, expected, found):
            return "\(path): images of shape \(found), expected \(expected)"
        case let .invalidSplit(message):
            return "split: \(message)"
        case let .unknownDataset(message):
            return "data: \(message)"
        case let .tooLarge(path, limit):
            return "\(path): larger than the \(limit) bytes its header (or Pare's limit for such files) allows"
        case let .badImage(path, reason):
            return "\(path): not a usable image: \(reason) (expected a PNG or JPEG file; --skip-bad-images skips such files)"
        case let .badFolder(path, reason):
            return "\(path): \(reason)"
        case let .badArray(path, reason):
            return "\(path): \(reason)"
        }
    }
}
