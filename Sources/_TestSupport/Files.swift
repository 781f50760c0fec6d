import Foundation

/// A file of this repository (tests run from anywhere).
public func repositoryFile(_ relative: String) -> String {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent(relative).path
}

/// The Python with onnxruntime and numpy: $PARE_PYTHON, else the repository's .venv
/// (made by scripts/setup.sh).
public func testPython() -> String? {
    if let p = ProcessInfo.processInfo.environment["PARE_PYTHON"], !p.isEmpty { return p }
    let venv = repositoryFile(".venv/bin/python")
    return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
}

/// Runs a program (with `environment`, or this process's); its exit status and stdout +
/// stderr together.
public func runProgram(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let environment { p.environment = environment }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, text)
}

/// A fresh temporary directory, removed when this object goes (tests running in parallel
/// each get their own).
public final class TemporaryDirectory {
    public let path: String
    public init(_ label: String = "test") {
        path = NSTemporaryDirectory() + "pare-\(label)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Writes `bytes` to the file `name`; returns its path.
    @discardableResult
    public func file(_ name: String, _ bytes: [UInt8]) -> String {
        let p = file(name)
        try? FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    /// gzip -k of a file; returns the .gz path.
    public func gzip(_ p: String) -> String {
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: "/bin/gzip")
        proc.arguments = ["-kf", p]
        try! proc.run()
        proc.waitUntilExit()
        return p + ".gz"
    }
}

/// A space small enough that timing every layer signature takes a moment: two blocks, two
/// widths, two operators, two middle ratios (latency tables, int8 latency budgets).
public let smallShuffleSpaceYAML = """
    name: small-shuffle
    input: {channels: 1, size: 28}
    classes: 10
    stem: {channels: 8, stride: 2}
    stages:
      - {blocks: 2, stride: 2, widths: [12, 16], operators: [shuffle3, xception], middle_ratios: [0.5, 1.0]}
    head: {channels: 32}
    """

/// A small elastic-depth space on 28x28 images: two MobileNetV2 stages of 1-3 and 1-4
/// blocks, four widths each, two operators, two middle ratios (search, study and resume tests).
public let smallElasticSpaceYAML = """
    name: elastic
    input: {channels: 1, size: 28}
    classes: 10
    stem: {channels: 8}
    stages:
      - {depths: [1, 2, 3], stride: 2, widths: [8, 12, 16, 24], operators: [mbconv3_e3, mbconv5_e4], middle_ratios: [0.5, 1.0]}
      - {depths: [1, 2, 3, 4], stride: 2, widths: [16, 24, 32, 48], operators: [mbconv3_e3, mbconv5_e4], middle_ratios: [0.5, 1.0]}
    head: {channels: 64}
    """
