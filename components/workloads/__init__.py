"""Secure-by-default workload components for application teams: Api, Worker, ScheduledJob."""
