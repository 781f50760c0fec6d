import ArgumentParser
import Distributed
import Foundation
import Spaces
import TensorCore

@main
struct Pare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pare",
        abstract: "Find small, fast convolutional networks on a CPU: one-shot NAS and channel pruning.",
        subcommands: [TrainCommand.self, SearchCommand.self, ExportCommand.self, FinetuneCommand.self, EvalCommand.self, PruneCommand.self,
                      LatencyCommand.self, CorrelateCommand.self, InfoCommand.self, BenchCommand.self, QuantizeCommand.self])

    /// As ArgumentParser's own, except that a malformed command line (an unknown option, a
    /// value that does not parse, a failed `validate()`) is one line on stderr and exit
    /// status 1 like every other input error; `--help` is unchanged.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            guard code != .success, !(error is ExitCode) else { exit(withError: error) }
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            logLine("error: " + quoted(message, limit: 300))
            Foundation.exit(1)
        }
    }
}

/// Process start-up shared by every subcommand: OpenBLAS's fast kernels picked, and the
/// engine settings every network of the command is built with.
func startEngine(threads: Int?) -> Engine {
    BLAS.configure()
    return Engine(threads: threads ?? Engine.availableCores)
}

/// Engine threads of one rank: this machine's cores shared among the job's ranks on it
/// (ranks x threads <= cores), all cores without MPI.
func jobThreads(_ job: Communicator) -> Int {
    job.size > 1 ? max(1, Engine.availableCores / max(Job.localSize(), 1)) : Engine.availableCores
}

/// Prints to stderr, line-buffered (progress and log lines; stdout carries results).
func logLine(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}

/// A user-facing failure: one line on stderr, exit code 1, no trace.
struct UserError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Runs `body`, turning thrown errors into one clean line and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as CleanExit {
        throw e
    } catch let e as ExitCode {
        throw e
    } catch {
        logLine("error: \(error)")
        throw ExitCode(1)
    }
}

/// The job's sums for the engine (synchronized BatchNorm) and data-parallel training. An MPI
/// failure inside a collective cannot be recovered mid-step: it ends the process with the
/// error (mpirun then ends the job).
final class JobSum: CrossProcessSum, @unchecked Sendable {
    let job: Communicator
    init(_ job: Communicator) { self.job = job }

    /// Time spent in the collectives (waiting for the slowest rank included), their count and bytes.
    private(set) var seconds = 0.0
    private(set) var calls = 0
    private(set) var bytes = 0

    func sum(_ values: UnsafeMutablePointer<Double>, count: Int) { check(count * 8) { try job.allreduceSum(values, count: count) } }
    func sum(_ values: UnsafeMutablePointer<Float>, count: Int) { check(count * 4) { try job.allreduceSum(values, count: count) } }

    private func check(_ size: Int, _ body: () throws -> Void) {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            calls += 1
            bytes += size
        }
        do { try body() } catch {
            logLine("error: rank \(job.rank): \(error)")
            exit(1)
        }
    }
}
