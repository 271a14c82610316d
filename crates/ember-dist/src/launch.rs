//! Detecting a launch by `mpirun` (Open MPI, MPICH / Hydra, Slurm's PMI) from the environment it
//! sets, so one binary trains on one process or N without a flag.

/// The message for an `mpirun` launch of a build without MPI support.
pub const NO_MPI_FEATURE: &str = "this process was started by mpirun (the environment has OMPI_COMM_WORLD_SIZE or \
     PMI_SIZE), but ember was built without MPI support; rebuild with `--features mpi` (for the CLI: \
     cargo build --release -p ember-cli --features mpi), which needs libopenmpi-dev and libclang-dev";

/// `(rank, world_size)` when started by `mpirun`, from its environment variables.
pub fn mpi_launch() -> Option<(usize, usize)> {
    let get = |k: &str| std::env::var(k).ok().and_then(|v| v.trim().parse::<usize>().ok());
    let pairs = [
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("PMI_RANK", "PMI_SIZE"),
        ("PMIX_RANK", "PMIX_SIZE"),
    ];
    pairs
        .iter()
        .find_map(|(r, s)| Some((get(r)?, get(s)?)))
        .filter(|(r, s)| r < s)
}
