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
/// to dtype, shape and byte offsets into the data section, then the data), F32 only.
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

    /// The file's bytes; tensors in the given order, header keys sorted (deterministic).
    public static func encode(_ tensors: [Tensor], metadata: [String: String] = [:]) -> Data {
        var header: [String: Any] = [:]
        var meta = metadata
        var payload = Data()
        for t in tensors {
            let bytes = t.values.withUnsafeBufferPointer { Data(buffer: $0) }
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [payload.count, payload.count + bytes.count]]
            meta["crc32." + t.name] = String(CheckpointFile.crc(bytes), radix: 16)
            payload.append(bytes)
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

    /// Every tensor of a file, validated: header, offsets tiling the data section exactly,
    /// sizes matching shapes, checksums.
    public static func read(_ path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ModelFileError.unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "\(error.localizedDescription)" : "no such file")
        }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
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
        var entries: [(name: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let e = value as? [String: Any], let dtype = e["dtype"] as? String,
                  let shape = e["shape"] as? [Int], let offsets = e["data_offsets"] as? [Int], offsets.count == 2 else {
                throw ModelFileError.corrupt(path: path, reason: "tensor '\(name)': expected dtype, shape and data_offsets [begin, end]")
            }
            guard dtype == "F32" else { throw ModelFileError.corrupt(path: path, reason: "tensor '\(name)': dtype \(dtype), Pare reads F32") }
            // Sizes checked without overflow: a crafted shape [2^62, 4] or offset -2^63 must not trap.
            var bytesNeeded: Int? = shape.count <= 8 ? 4 : nil
            for d in shape {
                guard let b = bytesNeeded, d >= 0 else { bytesNeeded = nil; break }
                let (m, overflow) = b.multipliedReportingOverflow(by: d)
                bytesNeeded = overflow ? nil : m
            }
            guard let bytesNeeded, offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] - offsets[0] == bytesNeeded else {
                throw ModelFileError.corrupt(path: path, reason: "tensor '\(quoted(name))': offsets \(quoted(offsets)) do not hold shape \(quoted(shape)) of F32")
            }
            guard offsets[1] <= available else {
                throw ModelFileError.truncated(path: path, tensor: name, needed: offsets[1], available: available)
            }
            entries.append((name, shape, offsets[0], offsets[1]))
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
        var tensors: [String: Tensor] = [:]
        for e in entries {
            let raw = Data(bytes[(headerEnd + e.begin)..<(headerEnd + e.end)])
            if let stored = metadata["crc32." + e.name], stored != String(CheckpointFile.crc(raw), radix: 16) {
                throw ModelFileError.checksum(path: path, tensor: e.name)
            }
            var values = [Float](repeating: 0, count: (e.end - e.begin) / 4)
            values.withUnsafeMutableBytes { dst in raw.withUnsafeBytes { dst.copyMemory(from: $0) } }
            tensors[e.name] = Tensor(name: e.name, shape: e.shape, values: values)
        }
        return (tensors, metadata)
    }
}
