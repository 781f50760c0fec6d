import Distributed
import Foundation
import TensorCore

/// Where a workflow reports while it works: progress and log lines (the CLI writes them to
/// stderr; a test collects or drops them). Results come back as values, never printed.
public typealias Log = (String) -> Void

/// A user-facing failure: the CLI prints its message as one line and exits with status 1.
public struct UserError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A workflow stopped by Ctrl-C after writing what it needs to continue: `resume` says how
/// (nil on the ranks of a job that do not report). The CLI exits with status 130.
public struct Interrupted: Error, CustomStringConvertible {
    public let resume: String?
    public init(_ resume: String?) { self.resume = resume }
    public var description: String { resume ?? "interrupted" }
}

/// Process start-up shared by every workflow: OpenBLAS's fast kernels picked, and the
/// engine settings every network of the workflow is built with.
public func startEngine(threads: Int?) -> Engine {
    BLAS.configure()
    return Engine(threads: threads ?? Engine.availableCores)
}

/// Engine threads of one rank: this machine's cores shared among the job's ranks on it
/// (ranks x threads <= cores), all cores without MPI.
public func jobThreads(_ job: Communicator) -> Int {
    job.size > 1 ? max(1, Engine.availableCores / max(Job.localSize(), 1)) : Engine.availableCores
}

/// The job's sums for the engine (synchronized BatchNorm) and data-parallel training. An MPI
/// failure inside a collective cannot be recovered mid-step: it ends the process with the
/// error (mpirun then ends the job).
public final class JobSum: CrossProcessSum, @unchecked Sendable {
    let job: Communicator
    public init(_ job: Communicator) { self.job = job }

    /// Time spent in the collectives (waiting for the slowest rank included), their count and bytes.
    public private(set) var seconds = 0.0
    public private(set) var calls = 0
    public private(set) var bytes = 0

    public func sum(_ values: UnsafeMutablePointer<Double>, count: Int) { check(count * 8) { try job.allreduceSum(values, count: count) } }
    public func sum(_ values: UnsafeMutablePointer<Float>, count: Int) { check(count * 4) { try job.allreduceSum(values, count: count) } }

    private func check(_ size: Int, _ body: () throws -> Void) {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            calls += 1
            bytes += size
        }
        do { try body() } catch {
            FileHandle.standardError.write(Data("error: rank \(job.rank): \(error)\n".utf8))
            exit(1)
        }
    }
}
