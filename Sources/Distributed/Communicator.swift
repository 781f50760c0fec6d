import Foundation

/// The processes of a job and the collective operations Pare needs between them. One
/// process alone (`SingleProcess`) unless Pare was launched under MPI.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Every rank's `values` (each rank may pass a different count), in rank order.
    func allgather(_ values: [Double]) throws -> [[Double]]
    /// Element-wise sum over the ranks, in place.
    func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws
    func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws
    func barrier() throws
}

extension Communicator {
    /// Whether this process writes the job's files (rank 0 alone).
    public var isWriter: Bool { rank == 0 }
}

/// The job of one process: collectives are the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allgather(_ values: [Double]) throws -> [[Double]] { [values] }
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {}
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) throws {}
    public func barrier() throws {}
}

public enum DistributedError: Error, CustomStringConvertible {
    case runtimeMissing(String)
    case call(String, Int32)

    public var description: String {
        switch self {
        case let .runtimeMissing(m):
            return "launched under MPI but the OpenMPI runtime cannot be loaded (\(m)); install Debian's libopenmpi3 (libopenmpi-dev) or run without mpirun"
        case let .call(name, code): return "\(name) failed with MPI error \(code)"
        }
    }
}

/// The job this process belongs to: MPI when launched by `mpirun` (or `force`), else one
/// process. MPI is loaded (dlopen) and initialised only then, so the binary runs without an
/// MPI runtime installed.
public enum Job {
    /// Environment variables a launcher sets for each rank (OpenMPI, PMIx, MPICH's PMI).
    public static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"]

    public static func launchedUnderMPI(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        launcherVariables.contains { environment[$0] != nil }
    }

    nonisolated(unsafe) private static var shared: Communicator?

    /// The job's communicator, made once per process.
    public static func communicator(force: Bool = false) throws -> Communicator {
        if let shared { return shared }
        let c: Communicator = force || launchedUnderMPI() ? try OpenMPI() : SingleProcess()
        shared = c
        return c
    }

    /// Ranks of this job on this machine (to share its cores), 1 without MPI.
    public static func localSize(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        Int(environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? environment["MPI_LOCALNRANKS"] ?? "") ?? 1
    }
}
