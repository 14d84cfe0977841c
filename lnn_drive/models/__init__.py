"""lnn_drive.models"""
