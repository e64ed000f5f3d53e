"""Solvers behind one interface: each takes a Problem and a SolveRequest."""

from optimizer.solvers.base import Solver, SolveRequest, get_solver, solver_names

__all__ = ["SolveRequest", "Solver", "get_solver", "solver_names"]
