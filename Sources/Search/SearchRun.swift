import Foundation
import Runs

/// A search's directory inside a training run (`RUN/search` or `RUN/search-NAME`) and every
/// file a search writes there: `state.json` (after each generation, atomically),
/// `history.jsonl` (a line per evaluated candidate), `best.json`, `best.txt`, `plot.svg`.
/// It holds the directory's lock while it lives: searches of one run may run side by side,
/// never two into the same directory.
public final class SearchRun {
    public let path: String
    private let lock: FileLock
    private var history: MetricsLog?

    /// Opens (creating it) the search directory `name` of the run at `runPath`.
    public init(runPath: String, name: String?) throws {
        if let name, name.isEmpty || name.contains("/") || name.hasPrefix(".") {
            throw RunError.io(path: runPath, message: "search name '\(name)' must be a plain non-empty name")
        }
        path = Self.path(runPath: runPath, name: name)
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw RunError.io(path: path, message: "cannot create the search directory (\(error.localizedDescription))")
        }
        lock = try FileLock(path: (path as NSString).appendingPathComponent("lock"), shared: false, owner: path)
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    /// The files a search writes: the saved state and the best candidate (what export reads).
    public static let stateFile = "state.json", bestFile = "best.json"
    public var statePath: String { file(Self.stateFile) }
    public var historyPath: String { file("history.jsonl") }
    public static let resultFiles = ["best.txt", "best.json", "history.jsonl", "plot.svg", "state.json"]

    /// Starts a new search here: refused when one was saved already.
    public func start() throws {
        if FileManager.default.fileExists(atPath: statePath) {
            throw RunError.io(path: statePath, message: "a search already exists here; pass --resume to continue it, or remove \(path)")
        }
        try AtomicFile.write(Data(), to: historyPath)
        history = try MetricsLog(directory: path, file: "history.jsonl")
    }

    /// The saved state of an interrupted search; the history is rewritten to match it (lines
    /// written after the last saved generation, by a crash mid-generation, are dropped).
    public func resume() throws -> SearchState {
        let state = try Self.readState(statePath)
        try AtomicFile.write(Data(state.evaluated.map(Self.historyLine).joined().utf8), to: historyPath)
        history = try MetricsLog(directory: path, file: "history.jsonl")
        return state
    }

    /// The search state saved at `statePath` (read only: what the other ranks of a
    /// distributed search resume from).
    public static func readState(_ statePath: String) throws -> SearchState {
        guard let data = FileManager.default.contents(atPath: statePath) else {
            throw RunError.io(path: statePath, message: "not found; start the search without --resume")
        }
        do { return try JSONDecoder().decode(SearchState.self, from: data) } catch {
            throw RunError.io(path: statePath, message: "unreadable search state (\(decodingProblem(error)))")
        }
    }

    /// The directory a search named `name` of the run at `runPath` lives in.
    public static func path(runPath: String, name: String?) -> String {
        (runPath as NSString).appendingPathComponent(name.map { "search-" + $0 } ?? "search")
    }

    /// One history line per evaluated candidate; an I/O error stops the search.
    public func record(_ c: Candidate) throws {
        guard let history else { preconditionFailure("SearchRun.record before start() or resume()") }
        try history.append(Self.historyObject(c))
    }

    public func save(_ state: SearchState) throws {
        try AtomicFile.writeJSON(encodable: state, to: statePath)
    }

    /// What a finished search leaves: best.json (with the front and provenance), best.txt
    /// (the architecture's text form) and plot.svg.
    public func writeResults(best: Candidate, front: [Candidate], evaluated: [Candidate], budget: Budget,
                             provenance: [String: String], title: String) throws {
        var object: [String: Any] = ["architecture": best.architecture.description, "score": best.score, "macs": best.measured.macs,
                                     "params": best.measured.parameters, "budget": budget.description,
                                     "front": front.map { ["architecture": $0.architecture.description, "score": $0.score, "macs": $0.measured.macs] }]
        if let l = best.measured.latencyMs { object["latency_ms"] = l }
        if let e = best.measured.edge { object["peak_memory_bytes"] = e.peakActivationBytes; object["flash_bytes"] = e.flashBytes }
        for (k, v) in provenance { object[k] = v }
        try AtomicFile.writeJSON(object, to: file("best.json"))
        try AtomicFile.write(Data((best.architecture.description + "\n").utf8), to: file("best.txt"))
        try AtomicFile.write(Data(SVGPlot.render(candidates: evaluated, best: best, budget: budget, title: title).utf8), to: file("plot.svg"))
    }

    static func historyObject(_ c: Candidate) -> [String: Any] {
        var o: [String: Any] = ["generation": c.generation, "arch": c.architecture.description, "macs": c.measured.macs,
                                "params": c.measured.parameters, "score": c.score]
        if let l = c.measured.latencyMs { o["latency_ms"] = l }
        if let e = c.measured.edge { o["peak_memory_bytes"] = e.peakActivationBytes; o["flash_bytes"] = e.flashBytes }
        return o
    }

    static func historyLine(_ c: Candidate) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: historyObject(c), options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
