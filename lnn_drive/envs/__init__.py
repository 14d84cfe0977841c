"""lnn_drive.envs"""
