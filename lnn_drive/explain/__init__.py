"""lnn_drive.explain"""
