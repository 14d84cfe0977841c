"""lnn_drive.eval"""
