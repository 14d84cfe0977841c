"""lnn_drive.train"""
