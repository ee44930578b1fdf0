"""pivot"""
