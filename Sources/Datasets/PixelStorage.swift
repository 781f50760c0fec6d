import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The bytes behind a dataset's images: memory it owns, or a read-only mapping of a decode
/// cache, so a folder of 50 000 colour photos is paged in by the kernel instead of copied.
/// Immutable once made; datasets that are subsets of one another share it.
public final class PixelStorage: @unchecked Sendable {
    public let base: UnsafePointer<UInt8>
    public let count: Int
    private let mapping: (address: UnsafeMutableRawPointer, length: Int)?

    public init(copying bytes: [UInt8]) {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        bytes.withUnsafeBufferPointer { if let b = $0.baseAddress { p.initialize(from: b, count: bytes.count) } }
        base = UnsafePointer(p)
        count = bytes.count
        mapping = nil
    }

    /// `length` bytes at `offset` of `path`, mapped read-only (the file stays as it is).
    public init(mapping path: String, offset: Int, length: Int) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DataError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, offset >= 0, length >= 0, Int(st.st_size) >= offset + length else {
            throw DataError.truncated(path: path, expectedBytes: offset + length, foundBytes: Int(st.st_size))
        }
        let total = max(offset + length, 1)
        guard let address = mmap(nil, total, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            throw DataError.unreadable(path: path, reason: "mmap: \(String(cString: strerror(errno)))")
        }
        mapping = (address, total)
        base = UnsafePointer(address.assumingMemoryBound(to: UInt8.self) + offset)
        count = length
    }

    public var isMapped: Bool { mapping != nil }

    deinit {
        if let mapping { munmap(mapping.address, mapping.length) } else { UnsafeMutablePointer(mutating: base).deallocate() }
    }
}
