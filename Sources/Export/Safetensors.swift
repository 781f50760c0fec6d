import Foundation
import Runs
import Spaces

/// Errors of exported model files, each naming the file and, where one is at fault, the tensor.
public enum ModelFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case corrupt(path: String, reason: String)
    case truncated(path: String, tensor: String, needed: Int, available: Int)
    case missingTensor(path: String, tensor: String)
    case unexpectedTensor(path: String, tensor: String)
    case shapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    case checksum(path: String, tensor: String)
    case badModel(path: String, field: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(p, r): return "\(p): cannot read (\(r))"
        case let .corrupt(p, r): return "\(p): corrupt safetensors file (\(r))"
        case let .truncated(p, t, n, a):
            return "\(p): truncated: tensor '\(t)' needs bytes up to \(n) of the data section, the file holds \(a)"
        case let .missingTensor(p, t): return "\(p): tensor '\(t)' is missing"
        case let .unexpectedTensor(p, t): return "\(p): tensor '\(t)' is not part of this model"
        case let .shapeMismatch(p, t, e, f): return "\(p): tensor '\(t)' has shape \(f), model.json expects \(e)"
        case let .checksum(p, t): return "\(p): tensor '\(t)' fails its CRC-32 check (corrupt data)"
        case let .badModel(p, f, r): return "\(p): field '\(f)': \(r)"
        }
    }
}

/// The safetensors format (little-endian u64 header length, JSON header mapping each name
/// to dtype, shape and byte offsets into the data section, then the data): F32, and I8 / I32 /
/// U8 for int8 models.
/// Pare adds a CRC-32 per tensor to `__metadata__` ("crc32.NAME"), so flipped bytes in the
/// data are caught, not only a damaged header.
public enum Safetensors {
    public struct Tensor: Equatable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        public init(name: String, shape: [Int], values: [Float]) {
            precondition(shape.reduce(1, *) == values.count, "\(name): shape \(shape) for \(values.count) values")
            self.name = name; self.shape = shape; self.values = values
        }
    }

    /// Element types Pare writes: F32 everywhere, I8 / I32 / U8 in int8 models.
    public enum DType: String, Sendable {
        case f32 = "F32", i8 = "I8", i32 = "I32", u8 = "U8"
        public var size: Int { switch self { case .f32, .i32: return 4; case .i8, .u8: return 1 } }
    }

    /// A tensor as bytes (little-endian elements of `dtype`).
    public struct RawTensor: Equatable, Sendable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var bytes: Data
        public init(name: String, dtype: DType, shape: [Int], bytes: Data) {
            precondition(shape.reduce(1, *) * dtype.size == bytes.count, "\(name): shape \(shape) of \(dtype) for \(bytes.count) bytes")
            self.name = name; self.dtype = dtype; self.shape = shape; self.bytes = bytes
        }
        public init<T>(name: String, dtype: DType, shape: [Int], values: [T]) {
            self.init(name: name, dtype: dtype, shape: shape, bytes: values.withUnsafeBufferPointer { Data(buffer: $0) })
        }
        /// The elements, read as `T` (whose size must be the dtype's).
        public func values<T: Numeric>(as: T.Type) -> [T] {
            precondition(MemoryLayout<T>.stride == dtype.size)
            var out = [T](repeating: 0, count: bytes.count / dtype.size)
            out.withUnsafeMutableBytes { dst in bytes.withUnsafeBytes { dst.copyMemory(from: $0) } }
            return out
        }
    }

    /// The file's bytes; tensors in the given order, header keys sorted (deterministic).
    public static func encode(_ tensors: [Tensor], metadata: [String: String] = [:]) -> Data {
        encode(raw: tensors.map { RawTensor(name: $0.name, dtype: .f32, shape: $0.shape, values: $0.values) }, metadata: metadata)
    }

    public static func encode(raw tensors: [RawTensor], metadata: [String: String] = [:]) -> Data {
        var header: [String: Any] = [:]
        var meta = metadata
        var payload = Data()
        for t in tensors {
            header[t.name] = ["dtype": t.dtype.rawValue, "shape": t.shape, "data_offsets": [payload.count, payload.count + t.bytes.count]]
            meta["crc32." + t.name] = String(CheckpointFile.crc(t.bytes), radix: 16)
            payload.append(t.bytes)
        }
        header["__metadata__"] = meta
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        // Pad the header with spaces so the data section starts 8-byte aligned.
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(payload)
        return out
    }

    public static func write(_ tensors: [Tensor], metadata: [String: String] = [:], to path: String) throws {
        try AtomicFile.write(encode(tensors, metadata: metadata), to: path)
    }

    public static func write(raw tensors: [RawTensor], metadata: [String: String] = [:], to path: String) throws {
        try AtomicFile.write(encode(raw: tensors, metadata: metadata), to: path)
    }

    /// Every tensor of a file, validated: header, offsets tiling the data section exactly,
    /// sizes matching shapes, checksums.
    public static func read(_ path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        try decode(readBytes(path), path: path)
    }

    /// Every tensor of a file of any Pare dtype, validated the same way.
    public static func readRaw(_ path: String) throws -> (tensors: [String: RawTensor], metadata: [String: String]) {
        try decodeRaw(readBytes(path), path: path)
    }

    static func readBytes(_ path: String) throws -> Data {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ModelFileError.unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "\(error.localizedDescription)" : "no such file")
        }
        return data
    }

    /// F32 files (every model weight file but the int8 one).
    public static func decode(_ data: Data, path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let (raw, metadata) = try decodeRaw(data, path: path)
        var tensors: [String: Tensor] = [:]
        for (name, t) in raw {
            guard t.dtype == .f32 else { throw ModelFileError.corrupt(path: path, reason: "tensor '\(name)': dtype \(t.dtype.rawValue), Pare reads F32") }
            tensors[name] = Tensor(name: name, shape: t.shape, values: t.values(as: Float.self))
        }
        return (tensors, metadata)
    }

    public static func decodeRaw(_ data: Data, path: String) throws -> (tensors: [String: RawTensor], metadata: [String: String]) {
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw ModelFileError.corrupt(path: path, reason: "\(bytes.count) bytes, shorter than the 8-byte header length") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(bytes.count - 8), n <= 100_000_000 else {
            throw ModelFileError.corrupt(path: path, reason: "header length \(n) exceeds the file (\(bytes.count) bytes)")
        }
        let headerEnd = 8 + Int(n)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])), let header = object as? [String: Any] else {
            throw ModelFileError.corrupt(path: path, reason: "header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let mm = m as? [String: String] else { throw ModelFileError.corrupt(path: path, reason: "__metadata__ is not a string map") }
            metadata = mm
        }
        let available = bytes.count - headerEnd
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let e = value as? [String: Any], let dtype = e["dtype"] as? String,
                  let shape = e["shape"] as? [Int], let offsets = e["data_offsets"] as? [Int], offsets.count == 2 else {
                throw ModelFileError.corrupt(path: path, reason: "tensor '\(name)': expected dtype, shape and data_offsets [begin, end]")
            }
            guard let type = DType(rawValue: dtype) else {
                throw ModelFileError.corrupt(path: path, reason: "tensor '\(quoted(name))': dtype \(quoted(dtype)), Pare reads F32, I8, I32 and U8")
            }
            // Sizes checked without overflow: a crafted shape [2^62, 4] or offset -2^63 must not trap.
            var bytesNeeded: Int? = shape.count <= 8 ? type.size : nil
            for d in shape {
                guard let b = bytesNeeded, d >= 0 else { bytesNeeded = nil; break }
                let (m, overflow) = b.multipliedReportingOverflow(by: d)
                bytesNeeded = overflow ? nil : m
            }
            guard let bytesNeeded, offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] - offsets[0] == bytesNeeded else {
                throw ModelFileError.corrupt(path: path, reason: "tensor '\(quoted(name))': offsets \(quoted(offsets)) do not hold shape \(quoted(shape)) of \(dtype)")
            }
            guard offsets[1] <= available else {
                throw ModelFileError.truncated(path: path, tensor: name, needed: offsets[1], available: available)
            }
            entries.append((name, type, shape, offsets[0], offsets[1]))
        }
        // The spec: tensors tile the data section without holes or overlaps.
        entries.sort { $0.begin < $1.begin }
        var position = 0
        for e in entries {
            guard e.begin == position else {
                throw ModelFileError.corrupt(path: path, reason: "tensor '\(e.name)' starts at byte \(e.begin), expected \(position) (hole or overlap)")
            }
            position = e.end
        }
        guard position == available else {
            throw ModelFileError.corrupt(path: path, reason: "\(available - position) bytes after the last tensor")
        }
        var tensors: [String: RawTensor] = [:]
        for e in entries {
            let raw = Data(bytes[(headerEnd + e.begin)..<(headerEnd + e.end)])
            if let stored = metadata["crc32." + e.name], stored != String(CheckpointFile.crc(raw), radix: 16) {
                throw ModelFileError.checksum(path: path, tensor: e.name)
            }
            tensors[e.name] = RawTensor(name: e.name, dtype: e.dtype, shape: e.shape, bytes: raw)
        }
        return (tensors, metadata)
    }
}
