import Distributed
import Search
import Spaces

/// Spreads a generation's candidates over the job's ranks: rank r scores candidates r,
/// r + P, r + 2P, ...; the scores are gathered so that every rank sees all of them in the
/// original order and the evolution continues identically everywhere. A score depends on
/// the architecture alone, so the result equals a single process's.
public final class DistributedEvaluator: CandidateEvaluator {
    let local: CandidateEvaluator
    let job: Communicator

    public init(local: CandidateEvaluator, job: Communicator) {
        self.local = local
        self.job = job
    }

    public var scoring: ScoringSettings? { local.scoring }
    public func score(_ arch: Architecture) throws -> Double { try local.score(arch) }

    public func scores(_ archs: [Architecture], each: (Int, Double) throws -> Void) throws {
        let mine = Array(stride(from: job.rank, to: archs.count, by: job.size))
        // A rank that fails still joins the gather (the others would wait forever): its
        // first value says so, and every rank stops with one error.
        var values: [Double] = [0]
        do { for i in mine { values.append(try local.score(archs[i])) } } catch {
            values = [1]
            if job.size == 1 { throw error }
            FailureLog.last = "\(error)"
        }
        let all = try job.allgather(values)
        if let failed = all.firstIndex(where: { $0.first != 0 }) {
            throw DistributedSearchError.rankFailed(rank: failed, message: failed == job.rank ? FailureLog.last : nil)
        }
        var scores = [Double](repeating: .nan, count: archs.count)
        for (r, v) in all.enumerated() {
            for (k, i) in stride(from: r, to: archs.count, by: job.size).enumerated() { scores[i] = v[k + 1] }
        }
        for (i, s) in scores.enumerated() { try each(i, s) }
    }
}

enum FailureLog { nonisolated(unsafe) static var last: String? }

public enum DistributedSearchError: Error, CustomStringConvertible {
    case rankFailed(rank: Int, message: String?)
    public var description: String {
        switch self {
        case let .rankFailed(rank, message?): return "rank \(rank): \(message)"
        case let .rankFailed(rank, nil): return "candidate evaluation failed on rank \(rank) (its error is in its output)"
        }
    }
}
