"""Live rooms: the broker between workers, this worker's hub of sockets, and the command service."""
